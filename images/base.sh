#!/usr/bin/env bash
# Build a python:X.Y-slim-like base image from Debian for one suite and one or more CPUs, and push it
# to the local OCI registry:   images/base.sh SUITE ARCHS TAG
#   images/base.sh bookworm amd64 python:3.11-slim          one platform (today's base)
#   images/base.sh bookworm amd64,arm64 python:3.11-slim    amd64 + arm64 under one index
#   images/base.sh trixie amd64 python:3.13-slim
# Each platform goes to the registry as TAG-ARCH (python:3.11-slim-arm64); TAG is that manifest when
# one platform is built, and a multi-platform index of them when several are. No foreign code runs:
# a foreign CPU's root is unpacked from Debian's packages and finished on the host (rootfs.sh), so
# building an arm64 base needs no emulation. The host's own platform is left on the engine as TAG.
# Idempotent: does nothing when TAG is in the registry with every wanted platform.
# Settings: HUB_OCI_ADDR (127.0.0.1:5000), HUB_DEBIAN_MIRROR (apt's), HUB_ENGINE_STATE (logs).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OCI_ADDR=${HUB_OCI_ADDR:-127.0.0.1:5000}
STATE=${HUB_ENGINE_STATE:-/var/lib/helperhub}
PACKAGES=python3,python3-pip,python3-venv,ca-certificates
log() { printf 'base: %s\n' "$*" >&2; }
die() { printf 'base: error: %s\n' "$*" >&2; exit 1; }

[ $# -eq 3 ] || die "usage: images/base.sh SUITE ARCH[,ARCH...] TAG (e.g. bookworm amd64,arm64 python:3.11-slim)"
SUITE=$1 TAG=$3
IFS=, read -r -a ARCHS <<<"$2"
case "$TAG" in *:*) ;; *) die "TAG $TAG names no tag; use NAME:TAG (e.g. python:3.11-slim)";; esac
REF="$OCI_ADDR/$TAG"
NATIVE=$(dpkg --print-architecture)
# registry writes: the package's stdlib-only module, run before the virtualenv exists
manifest() { PYTHONPATH="$(dirname "$HERE")${PYTHONPATH:+:$PYTHONPATH}" python3 -m helperhub.images.registry_api "$@"; }

apt_mirror() {
  # The machine's own Debian mirror, as apt is configured (deb822 or one-line format).
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || die "no Debian mirror found in apt's sources; set HUB_DEBIAN_MIRROR"
  echo "$uri"
}

has_all() {  # has_all "have..." want...: every wanted platform is in the list
  local have=" $1 " a; shift
  for a in "$@"; do [[ $have == *" $a "* ]] || return 1; done
}

build_platform() {
  # Root filesystem (a tar stream) -> one-layer image for linux/ARCH pushed as TAG-ARCH.
  local arch=$1 mirror=${HUB_DEBIAN_MIRROR:-$(apt_mirror)} how digest
  local ref="$REF-$arch" logf="$STATE/base-$SUITE-$arch.log" started=$SECONDS
  command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is missing; apt-get install mmdebstrap (or run scripts/engine.sh as root)"
  mkdir -p "$STATE"
  local args=(--format=tar --arch="$arch" --include="$PACKAGES" --dpkgopt=force-unsafe-io
              --setup-hook=/usr/share/mmdebstrap/hooks/merged-usr/setup00.sh)
  if [ "$arch" = "$NATIVE" ]; then
    how="installing"  # dpkg runs every maintainer script: the root debootstrap would make
    args+=(--variant=minbase --customize-hook="$HERE/rootfs.sh \"\$1\" configured")
  else
    how="unpacking"  # no foreign code runs: unpack the same package set, finish it on the host
    args+=(--variant=extract --include='?essential' --include='?priority(required)' --include=apt
           --extract-hook="$HERE/rootfs.sh \"\$1\" extracted")
  fi
  log "$how Debian $SUITE $arch with python3 (mmdebstrap; log: $logf)"
  if ! digest=$(mmdebstrap "${args[@]}" "$SUITE" - "$mirror" 2>"$logf" | manifest push "$ref" "$arch"); then
    tail -15 "$logf" >&2
    die "building or pushing the $SUITE $arch root failed (log: $logf)"
  fi
  log "pushed $ref ($digest, $((SECONDS - started)) s)"
}

have=$(manifest platforms "$REF") || die "cannot read $REF from the OCI registry on $OCI_ADDR"
if has_all "$have" "${ARCHS[@]}"; then
  log "$REF is in the registry for ${ARCHS[*]}"
else
  for arch in "${ARCHS[@]}"; do
    if [ "$(manifest platforms "$REF-$arch")" = "$arch" ]; then
      log "$REF-$arch is in the registry"
    elif [ "$have" = "$arch" ]; then
      # TAG is one image of this platform already (made before platform tags existed): reuse it.
      manifest copy "$REF" "${TAG#*:}-$arch" >/dev/null
    else
      build_platform "$arch"
    fi
  done
  if [ ${#ARCHS[@]} -eq 1 ]; then
    manifest copy "$REF-${ARCHS[0]}" "${TAG#*:}" >/dev/null
  else
    sources=(); for arch in "${ARCHS[@]}"; do sources+=("$REF-$arch"); done
    digest=$(manifest index "$REF" "${sources[@]}")
    log "pushed the index $REF ($digest): ${ARCHS[*]}"
  fi
fi
if has_all "${ARCHS[*]}" "$NATIVE" && ! docker image inspect "$REF" >/dev/null 2>&1; then
  # What the project builds FROM on this host: the native platform's image under the plain tag.
  docker pull -q "$REF" >/dev/null || die "pulling $REF failed"
fi
