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
        """Whether ``password`` is ``user``'s. The slow hash runs outside the lock, so wrong
        passwords (bcrypt is slow on purpose) keep no other request waiting."""
        from passlib.apache import HtpasswdFile

        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:  # replaced atomically by `registry add-user`: a new reader
                self._file = HtpasswdFile(str(self.path))
                self._stamp = stamp
                self._proven.clear()
            if key in self._proven:
                return True
            file = self._file
        try:
            ok = bool(file.check_password(user, password))
        except ValueError:  # a user name htpasswd cannot hold (a tab, a colon): nobody's
            return False
        if ok:
            with self._lock:
                if file is self._file and len(self._proven) < MAX_PROVEN:
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
    if not sep or not user or any(ord(c) < 32 or c == "\x7f" for c in user):
        return None  # no user of an htpasswd file is named so: not credentials at all
    return user, password


def authenticated_user(htpasswd: Htpasswd | None, header: str | None) -> str | None:
    """The user an Authorization header proves, or None (no htpasswd: nobody may upload)."""
    creds = basic_credentials(header)
    if htpasswd is None or creds is None:
        return None
    return creds[0] if htpasswd.check(*creds) else None
