#!/usr/bin/env bash
# Provision a Docker engine with Compose, a loopback OCI registry and a Python 3.11 base image on a
# machine that has none of them (no running engine, no public image registry). Idempotent: on a machine
# where `docker info` already answers and the base image is in the registry it changes nothing.
# Prints the settings it established as shell `export` lines on stdout; progress goes to stderr.
#   scripts/engine.sh               provision (the base: python:3.11-slim for this host's CPU)
#   scripts/engine.sh --env         only print the settings of an engine provisioned already
#   scripts/engine.sh --emulation   provision, and let this kernel run arm64 programs (containers
#                                   too) under qemu-user-static: for tests only, never for a release
#   scripts/engine.sh --compose     provision, and install Debian's docker-compose (make compose-up)
#                                   (both flags may be given: make test does)
# Each step installs only the Debian packages it needs, and only when it has something to do.
# The bases of this repository's targets ([tool.helperhub.targets] in pyproject.toml) are built too
# (images/base.sh): HUB_ENGINE_BASES="SUITE:ARCH[,ARCH]:TAG ...", by default
#   "bookworm:amd64,arm64:python:3.11-slim trixie:amd64:python:3.13-slim"   (py311 and py313)
# A team adds a target's base here (or in the variable): Debian's suite, its CPUs and the tag.
set -euo pipefail

STATE=${HUB_ENGINE_STATE:-/var/lib/helperhub}
OCI_ADDR=${HUB_OCI_ADDR:-127.0.0.1:5000}
BASE_TAG=${HUB_BASE_TAG:-python:3.11-slim}
SUITE=${HUB_BASE_SUITE:-bookworm}
HUB_ENGINE_BASES=${HUB_ENGINE_BASES-bookworm:amd64,arm64:python:3.11-slim trixie:amd64:python:3.13-slim}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MANIFESTS="application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
log() { printf 'engine: %s\n' "$*" >&2; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

docker_ok() { docker info >/dev/null 2>&1; }
registry_ok() { curl -fsS "http://$OCI_ADDR/v2/" >/dev/null 2>&1; }

install() {
  # Debian's packages for the commands named (command:package ...) that are missing; only what the
  # step at hand needs, so a machine whose engine and registry already answer installs nothing.
  local need=() entry
  for entry in "$@"; do command -v "${entry%%:*}" >/dev/null 2>&1 || need+=("${entry#*:}"); done
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root"
  log "installing ${need[*]} from Debian"
  mkdir -p "$STATE"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need[@]}"; } >"$STATE/apt.log" 2>&1 || { tail -20 "$STATE/apt.log" >&2; die "apt-get failed (log: $STATE/apt.log)"; }
}

start_docker() {
  docker_ok && { log "docker engine already answers"; return 0; }
  install dockerd:docker.io
  mkdir -p "$STATE"
  # A machine that was stopped leaves pid files behind; dockerd refuses to start if their pid now
  # belongs to another process.
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
  fi
  log "starting dockerd (overlay2, host networking only)"
  nohup dockerd --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    >"$STATE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker_ok && return 0; sleep 0.5; done
  tail -20 "$STATE/dockerd.log" >&2
  die "dockerd did not answer within 30 s (log: $STATE/dockerd.log)"
}

start_registry() {
  registry_ok && { log "OCI registry already answers on $OCI_ADDR"; return 0; }
  install docker-registry:docker-registry curl:curl
  mkdir -p "$STATE/oci"
  # as helperhub/stack/oci_registry.py writes it: loopback, deletes by digest allowed (retention's
  # `registry gc --apply`) on loopback only; `make oci-gc` restarts it read-only for its garbage collection
  local delete=false
  case $OCI_ADDR in 127.*|localhost:*) delete=true ;; esac
  cat >"$STATE/oci-registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE/oci
  delete:
    enabled: $delete
http:
  addr: $OCI_ADDR
YAML
  log "starting the OCI registry on $OCI_ADDR"
  nohup docker-registry serve "$STATE/oci-registry.yml" >>"$STATE/oci-registry.log" 2>&1 &
  echo $! >"$STATE/oci-registry.pid"
  for _ in $(seq 1 40); do registry_ok && return 0; sleep 0.25; done
  die "OCI registry did not answer on $OCI_ADDR (log: $STATE/oci-registry.log)"
}

build_bases() {
  # The default base for this host's CPU, then the targets' ones; images/base.sh skips what the
  # registry has already.
  local spec suite archs tag
  if [ -z "${HUB_ENGINE_BASES:-}" ] && docker image inspect "$OCI_ADDR/$BASE_TAG" >/dev/null 2>&1 \
      && curl -fsS -o /dev/null -H "Accept: $MANIFESTS" "http://$OCI_ADDR/v2/${BASE_TAG%%:*}/manifests/${BASE_TAG#*:}"; then
    log "base image $OCI_ADDR/$BASE_TAG is built and pushed already"
    return 0
  fi
  install mmdebstrap:mmdebstrap python3:python3  # images/base.sh, helperhub/images/registry_api.py
  for spec in "$SUITE:$(dpkg --print-architecture):$BASE_TAG" ${HUB_ENGINE_BASES:-}; do
    suite=${spec%%:*} spec=${spec#*:}
    archs=${spec%%:*} tag=${spec#*:}
    [ -n "$suite" ] && [ -n "$archs" ] && [ "$tag" != "$archs" ] \
      || die "HUB_ENGINE_BASES entry $suite:$spec is not SUITE:ARCH[,ARCH]:TAG"
    HUB_OCI_ADDR=$OCI_ADDR HUB_ENGINE_STATE=$STATE bash "$ROOT/images/base.sh" "$suite" "$archs" "$tag"
  done
}

enable_emulation() {
  # qemu-user-static ships binfmt_misc entries that only systemd would register; register the arm64
  # one by hand. Its F flag makes the kernel keep the interpreter open, so containers use it too.
  local conf=/usr/lib/binfmt.d/qemu-aarch64.conf dir=/proc/sys/fs/binfmt_misc
  [ -e "$conf" ] || install qemu-aarch64-static:qemu-user-static
  [ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null \
    || die "cannot mount binfmt_misc on $dir (needs root and a kernel with binfmt_misc)"
  if [ -e "$dir/qemu-aarch64" ]; then
    log "arm64 emulation is registered already"
  else
    cat "$conf" >"$dir/register" || die "registering $conf with binfmt_misc failed (needs root)"
    log "arm64 emulation registered (qemu-user-static; remove with: echo -1 > $dir/qemu-aarch64)"
  fi
}

if [ "${1:-}" = "--env" ]; then
  # Only report an engine that is already provisioned; never install or start anything.
  command -v docker >/dev/null 2>&1 && docker_ok && registry_ok \
    && docker image inspect "$OCI_ADDR/$BASE_TAG" >/dev/null 2>&1 || exit 0
else
  emulation= compose=
  for arg in "$@"; do
    case $arg in
      --emulation) emulation=1 ;;
      --compose) compose=1 ;;
      *) die "unknown option $arg; use --env, or --emulation and/or --compose" ;;
    esac
  done
  [ -z "$compose" ] || install docker-compose:docker-compose  # Compose v1: make compose-up, the tests
  start_docker
  start_registry
  [ -z "$emulation" ] || enable_emulation
  build_bases
fi
# the base's own digest (an image pushed under other names too lists those as well)
digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$OCI_ADDR/$BASE_TAG" \
  | grep -m1 "^$OCI_ADDR/${BASE_TAG%%:*}@" || true)
# Settings the caller already chose win over the provisioned defaults.
echo "export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}"
echo "export HUB_OCI_REGISTRY=${HUB_OCI_REGISTRY:-$OCI_ADDR}"
echo "export BASE_IMAGE=${BASE_IMAGE:-$OCI_ADDR/$BASE_TAG}"
[ "${1:-}" = "--env" ] || log "engine ready: DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock} registry=$OCI_ADDR BASE_IMAGE=$OCI_ADDR/$BASE_TAG ($digest)"
