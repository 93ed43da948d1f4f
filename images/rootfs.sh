#!/usr/bin/env bash
# Finish a Debian root filesystem for images/base.sh, on the host (mmdebstrap runs it as a hook):
#   rootfs.sh ROOT configured   dpkg installed the packages: only the python:X.Y-slim top layer
#   rootfs.sh ROOT extracted    the packages of another CPU were only unpacked: first do on the host
#                               what their maintainer scripts would have done that a Python image
#                               needs, with no foreign code run.
# The top layer is the one the base image always had: Debian's PEP 668 marker removed (helper images
# pip-install into the system interpreter) and `python` on PATH.
set -euo pipefail

ROOT=$1 MODE=$2
[ -d "$ROOT/usr" ] || { echo "rootfs: error: $ROOT is no root filesystem" >&2; exit 1; }

register_packages() {
  # The dpkg database, as `dpkg --unpack` + `--configure` would leave it: apt and dpkg inside the
  # image (on a real arm64 machine) see a normal installed system.
  local admin="$ROOT/var/lib/dpkg" deb name tmp f
  tmp=$(mktemp -d)
  for deb in "$ROOT"/var/cache/apt/archives/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    [ "$(dpkg-deb -f "$deb" Multi-Arch)" = same ] && name="$name:$(dpkg-deb -f "$deb" Architecture)"
    grep -qx "Package: ${name%%:*}" "$admin/status" 2>/dev/null && continue  # the hooks' own
    dpkg-deb -f "$deb" | awk 'NR == 1 { print; print "Status: install ok installed"; next } { print }' \
      >>"$admin/status"
    echo >>"$admin/status"
    rm -rf "${tmp:?}"/*
    dpkg-deb --control "$deb" "$tmp"
    for f in "$tmp"/*; do
      [ "${f##*/}" = control ] || mv "$f" "$admin/info/$name.${f##*/}"
    done
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's,^\./,/,' -e 's,^/$,/.,' -e 's,\(.\)/$,\1,' \
      >"$admin/info/$name.list"
  done
  rm -rf "$tmp"
}

alternative() {  # NAME LINK TARGET: the links `update-alternatives --install` makes
  [ -e "$ROOT$3" ] || return 0
  ln -sfn "$3" "$ROOT/etc/alternatives/$1"
  ln -sfn "/etc/alternatives/$1" "$ROOT$2"
}

finish_extracted() {
  local days; days=$(($(date +%s) / 86400))
  # base-passwd (update-passwd), passwd (shadowconfig), base-files, libc-bin, tzdata, debianutils.
  sed 's/^\([^:]*\):\*:/\1:x:/' "$ROOT/usr/share/base-passwd/passwd.master" >"$ROOT/etc/passwd"
  sed 's/^\([^:]*\):\*:/\1:x:/' "$ROOT/usr/share/base-passwd/group.master" >"$ROOT/etc/group"
  awk -F: -v d="$days" '{ print $1 ":*:" d ":0:99999:7:::" }' "$ROOT/etc/passwd" >"$ROOT/etc/shadow"
  awk -F: '{ print $1 ":*::" }' "$ROOT/etc/group" >"$ROOT/etc/gshadow"
  chmod 0640 "$ROOT/etc/shadow" "$ROOT/etc/gshadow"
  chgrp 42 "$ROOT/etc/shadow" "$ROOT/etc/gshadow"  # group shadow in base-passwd
  : >"$ROOT/etc/subuid"; : >"$ROOT/etc/subgid"
  cp -n "$ROOT/usr/share/base-files/profile" "$ROOT/etc/profile"
  cp -n "$ROOT/usr/share/base-files/dot.profile" "$ROOT/root/.profile"
  cp -n "$ROOT/usr/share/base-files/dot.bashrc" "$ROOT/root/.bashrc"
  cp -n "$ROOT/usr/share/base-files/motd" "$ROOT/etc/motd"
  [ ! -e "$ROOT/usr/share/libc-bin/nsswitch.conf" ] || cp -n "$ROOT/usr/share/libc-bin/nsswitch.conf" "$ROOT/etc/"
  [ ! -e "$ROOT/usr/share/readline/inputrc" ] || cp -n "$ROOT/usr/share/readline/inputrc" "$ROOT/etc/"
  ln -sfn debian "$ROOT/etc/dpkg/origins/default"
  for d in media mnt opt srv usr/local/etc usr/local/include usr/local/sbin usr/local/share \
           usr/local/src var/opt var/mail; do
    mkdir -p "$ROOT/$d"
  done
  rmdir "$ROOT/var/run" "$ROOT/var/lock" 2>/dev/null || true
  [ -e "$ROOT/var/run" ] || ln -s /run "$ROOT/var/run"
  [ -e "$ROOT/var/lock" ] || ln -s /run/lock "$ROOT/var/lock"
  mkdir -p "$ROOT/run/lock"
  if [ -e "$ROOT/usr/share/zoneinfo/Etc/UTC" ]; then
    ln -sfn /usr/share/zoneinfo/Etc/UTC "$ROOT/etc/localtime" && echo Etc/UTC >"$ROOT/etc/timezone"
  fi
  printf '%s\n' '# /etc/shells: valid login shells' /bin/sh /usr/bin/sh /bin/bash /usr/bin/bash \
    /bin/rbash /usr/bin/rbash /bin/dash /usr/bin/dash >"$ROOT/etc/shells"
  # The update-alternatives links the essential set registers.
  alternative awk /usr/bin/awk /usr/bin/mawk
  alternative nawk /usr/bin/nawk /usr/bin/mawk
  alternative pager /usr/bin/pager /usr/bin/more
  alternative rmt /usr/sbin/rmt /usr/sbin/rmt-tar
  alternative which /usr/bin/which /usr/bin/which.debianutils
  # ca-certificates' postinst: every Mozilla certificate on, one bundle (what OpenSSL and pip read).
  (cd "$ROOT/usr/share/ca-certificates" && find . -name '*.crt' | sed 's,^\./,,' | LC_ALL=C sort) \
    >"$ROOT/etc/ca-certificates.conf"
  mkdir -p "$ROOT/etc/ssl/certs"
  while read -r cert; do
    sed -e '$a\' "$ROOT/usr/share/ca-certificates/$cert"
  done <"$ROOT/etc/ca-certificates.conf" >"$ROOT/etc/ssl/certs/ca-certificates.crt"
  # python3.X-minimal's postinst (byte-compiling is skipped: the image sets PYTHONDONTWRITEBYTECODE).
  for d in "$ROOT"/usr/lib/python3.*/; do
    v=${d%/}; v=${v##*/}
    mkdir -p "$ROOT/usr/local/lib/$v/dist-packages"
  done
  register_packages
  rm -f "$ROOT"/var/cache/apt/archives/*.deb
}

[ "$MODE" = extracted ] && finish_extracted
rm -f "$ROOT"/usr/lib/python3*/EXTERNALLY-MANAGED
mkdir -p "$ROOT/usr/local/bin"
ln -sf /usr/bin/python3 "$ROOT/usr/local/bin/python"
