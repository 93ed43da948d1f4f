"""Who is uploading, decided from the request headers alone (HTTP Basic against the htpasswd
file), before a byte of the body is read."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

MAX_PROVEN = 1024  # distinct logins remembered


class Htpasswd:
    """An htpasswd file, re-read when it changes (users are added while the registry runs)."""

    def __init__(self, path: Path) -> None:
        from passlib.apache import HtpasswdFile

        self.path = path
        self._lock = threading.Lock()
        self._file: Any = HtpasswdFile(str(path))
        self._stamp = self._stat()
        # logins already checked against this version of the file: with --auth-reads every read
        # carries one, and bcrypt is slow on purpose. Keyed by a hash, emptied on any change.
        self._proven: set[bytes] = set()

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_ino, st.st_size, st.st_mtime_ns

    def check(self, user: str, password: str) -> bool:
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:  # replaced atomically by `registry add-user`
                self._file.load(force=True)
                self._stamp = stamp
                self._proven.clear()
            key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
            if key in self._proven:
                return True
            ok = bool(self._file.check_password(user, password))
            if ok and len(self._proven) < MAX_PROVEN:
                self._proven.add(key)
            return ok


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic ...`` header; None for anything else."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


def authenticated_user(htpasswd: Htpasswd | None, header: str | None) -> str | None:
    """The user an Authorization header proves, or None (no htpasswd: nobody may upload)."""
    creds = basic_credentials(header)
    if htpasswd is None or creds is None:
        return None
    return creds[0] if htpasswd.check(*creds) else None
