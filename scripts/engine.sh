#!/usr/bin/env bash
# Provision a Docker engine with Compose, a loopback OCI registry and a Python 3.11 base image on a
# machine that has none of them (no running engine, no public image registry). Idempotent: on a machine
# where `docker info` already answers and the base image is in the registry it changes nothing.
# Prints the settings it established as shell `export` lines on stdout; progress goes to stderr.
set -euo pipefail

STATE=${HUB_ENGINE_STATE:-/var/lib/helperhub}
OCI_ADDR=${HUB_OCI_ADDR:-127.0.0.1:5000}
BASE_TAG=${HUB_BASE_TAG:-python:3.11-slim}
SUITE=${HUB_BASE_SUITE:-bookworm}
log() { printf 'engine: %s\n' "$*" >&2; }
die() { printf 'engine: error: %s\n' "$*" >&2; exit 1; }

need_apt=()
command -v dockerd >/dev/null 2>&1 || need_apt+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)  # Compose v1: make compose-up

docker_ok() { docker info >/dev/null 2>&1; }
registry_ok() { curl -fsS "http://$OCI_ADDR/v2/" >/dev/null 2>&1; }

install_missing() {
  [ ${#need_apt[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) or run as root"
  log "installing ${need_apt[*]} from Debian"
  mkdir -p "$STATE"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need_apt[@]}"; } >"$STATE/apt.log" 2>&1 || { tail -20 "$STATE/apt.log" >&2; die "apt-get failed (log: $STATE/apt.log)"; }
}

start_docker() {
  docker_ok && { log "docker engine already answers"; return 0; }
  command -v dockerd >/dev/null 2>&1 || install_missing
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
  command -v docker-registry >/dev/null 2>&1 || install_missing
  mkdir -p "$STATE/oci"
  cat >"$STATE/oci-registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE/oci
  delete:
    enabled: false
http:
  addr: $OCI_ADDR
YAML
  log "starting the OCI registry on $OCI_ADDR"
  nohup docker-registry serve "$STATE/oci-registry.yml" >"$STATE/oci-registry.log" 2>&1 &
  for _ in $(seq 1 40); do registry_ok && return 0; sleep 0.25; done
  die "OCI registry did not answer on $OCI_ADDR (log: $STATE/oci-registry.log)"
}

apt_mirror() {
  # The machine's own Debian mirror, as apt is configured (deb822 or one-line format).
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -1)
  [ -n "$uri" ] || die "no Debian mirror found in apt's sources; set HUB_DEBIAN_MIRROR"
  echo "$uri"
}

build_base() {
  local ref="$OCI_ADDR/$BASE_TAG"
  if docker image inspect "$ref" >/dev/null 2>&1; then
    log "base image $ref is already built"
  else
    command -v debootstrap >/dev/null 2>&1 || install_missing
    local root="$STATE/rootfs-$SUITE" mirror=${HUB_DEBIAN_MIRROR:-$(apt_mirror)}
    if [ ! -x "$root/usr/bin/python3" ]; then
      rm -rf "$root"
      log "debootstrap $SUITE with python3 (about a minute)"
      debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
        "$SUITE" "$root" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
        || { tail -20 "$STATE/debootstrap.log" >&2; die "debootstrap failed (log: $STATE/debootstrap.log)"; }
      rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    fi
    log "importing the root filesystem"
    tar -C "$root" -c . | docker import - "$ref-rootfs" >/dev/null
    local ctx; ctx=$(mktemp -d)
    cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $ref-rootfs
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf /usr/bin/python3 /usr/local/bin/python
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
CMD ["python3"]
DOCKERFILE
    docker build -q --network host -t "$ref" "$ctx" >/dev/null
    rm -rf "$ctx"
  fi
  log "pushing $ref"
  docker push -q "$ref" >/dev/null
}

if [ "${1:-}" = "--env" ]; then
  # Only report an engine that is already provisioned; never install or start anything.
  command -v docker >/dev/null 2>&1 && docker_ok && registry_ok \
    && docker image inspect "$OCI_ADDR/$BASE_TAG" >/dev/null 2>&1 || exit 0
else
  install_missing
  start_docker
  start_registry
  build_base
fi
digest=$(docker image inspect --format '{{index .RepoDigests 0}}' "$OCI_ADDR/$BASE_TAG")
# Settings the caller already chose win over the provisioned defaults.
echo "export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}"
echo "export HUB_OCI_REGISTRY=${HUB_OCI_REGISTRY:-$OCI_ADDR}"
echo "export BASE_IMAGE=${BASE_IMAGE:-$OCI_ADDR/$BASE_TAG}"
[ "${1:-}" = "--env" ] || log "engine ready: DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock} registry=$OCI_ADDR BASE_IMAGE=$OCI_ADDR/$BASE_TAG ($digest)"
