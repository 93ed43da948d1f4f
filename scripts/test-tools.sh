#!/usr/bin/env bash
# Install what the tests run besides the engine, from Debian's packages: a headless browser for
# the catalog's browser tests and screenshots (chromium and chromium-driver: /usr/bin/chromium,
# /usr/bin/chromedriver, so no test tool ever downloads a browser of its own) and nginx for the
# registry's front. Idempotent and quiet: does nothing where all are already installed.
set -euo pipefail

STATE=${HUB_ENGINE_STATE:-/var/lib/helperhub}
die() { printf 'test-tools: error: %s\n' "$*" >&2; exit 1; }

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
[ ${#need[@]} -eq 0 ] && exit 0

[ "$(id -u)" = 0 ] || die "missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root"
printf 'test-tools: installing %s from Debian\n' "${need[*]}" >&2
mkdir -p "$STATE"
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need[@]}"; } >"$STATE/test-tools-apt.log" 2>&1 \
  || { tail -20 "$STATE/test-tools-apt.log" >&2; die "apt-get failed (log: $STATE/test-tools-apt.log)"; }
/usr/bin/chromium --version >/dev/null 2>&1 || die "/usr/bin/chromium does not start; see $STATE/test-tools-apt.log"
