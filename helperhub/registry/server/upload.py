"""The write path of the index (PyPI's legacy upload API, as twine and uv use it), decided from
the headers before a byte of the body is read: the login, the declared size and a free upload
slot. Only then is the multipart body parsed as it arrives; whether the user owns the project is
decided from the file part's name, and the file streamed straight into the store's hidden temp
file in the package folder: no spool, so nobody without a login can fill a disk, and the size
limit holds above any server's own buffer limit. Yanks (PEP 592) are forms on the same endpoint:
``:action=yank`` or ``:action=unyank`` with ``name``, ``version`` and an optional ``reason``; so is
the image a release pushed after its upload, ``:action=set_image`` with ``name``, ``version`` and
``image`` (``repo@sha256:...``) and an optional ``target`` (``py313``; none: ``default``), shown by
the catalog. A release's signed provenance and SBOMs are forms too (``:action=attach``,
``attestations.py``), and so are registered locks and retention (``:action=register``,
``unregister`` and ``gc``, ``gc.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from helperhub.core.defaults import TARGET_NAME
from helperhub.registry.server import attestations, record_form
from helperhub.registry.server.auth import Htpasswd, authenticated_user
from helperhub.registry.server.catchup import RETRY_AFTER
from helperhub.registry.server.gc import Retention
from helperhub.registry.server.recovery import RECORD
from helperhub.registry.server.registrations import NoRegistration, RegistrationForbidden
from helperhub.registry.server.room import Hold, NoRoom, Room, out_of_room, room_line
from helperhub.registry.server.store import (
    CatchingUp,
    HardenedBackend,
    NotFound,
    UploadConflict,
    UploadForbidden,
    UploadTooLarge,
)
from helperhub.registry.server.validate import UploadRefused

WsgiApp = Callable[..., Any]
CHUNK = 1 << 20
FORM_SLACK = 1 << 20  # the multipart form around the file: metadata fields, boundaries
MAX_FIELD = 8 << 20  # one metadata field (the long description is the largest)
MAX_FIELDS = 32 << 20  # all metadata fields of one upload
CLOSE = ("Connection", "close")
MAX_YANK_REASON = 500  # characters of a yank reason: it goes into every page and feed that shows the version
# a refused upload of a logged-in user is read to its end (up to this much) before the answer, so
# the client gets to read it: closing on unread bytes resets the connection, answer and all
DRAIN_LIMIT = 64 << 20
DRAIN_SECONDS = 30.0  # how long a body refused for room (507) is read after the answer, up to DRAIN_LIMIT


class Refusal(Exception):
    """An HTTP answer that ends the request (the connection is closed: the body may be unread)."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or []


def _reason(message: str) -> str:
    """The message as an HTTP reason phrase (what twine and uv show), as PyPI does."""
    text = "".join(c if " " <= c <= "~" else " " for c in message)
    return text[:300]


def _answer(start_response: Callable[..., Any], status: int, message: str,
            headers: list[tuple[str, str]], close: bool) -> list[bytes]:
    body = (message + "\n").encode()
    extra = [CLOSE] if close else []
    phrase = HTTPStatus(status).phrase
    start_response(f"{status} {_reason(f'{phrase}: {message}')}", [
        ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *headers, *extra,
    ])
    return [body]


class Uploads:
    """WSGI middleware: every request that is not a read ends here (uploads, yanks as PEP 592
    describes them, ``:action=yank`` / ``:action=unyank`` forms, and ``:action=set_image``); reads
    go to ``app``."""

    def __init__(self, app: WsgiApp, backend: HardenedBackend, htpasswd: Htpasswd | None, max_bytes: int,
                 max_concurrent: int, retention: Retention | None = None) -> None:
        self.app, self.backend, self.htpasswd, self.retention = app, backend, htpasswd, retention
        self.max_bytes = max_bytes
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self.room = Room(backend.root, backend.root / RECORD)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        try:
            user, boundary, length, hold = self._admit(environ)
        except Refusal as refused:
            refusal = _answer(start_response, refused.status, refused.message, refused.headers, close=True)
            if refused.status == 507:  # a logged-in client still sending: let it read the line
                return _Lingering(refusal, environ["wsgi.input"], DRAIN_LIMIT, DRAIN_SECONDS)
            return _Lingering(refusal, environ["wsgi.input"])
        body = _Counted(environ["wsgi.input"].read, self.max_bytes + FORM_SLACK, hold)
        try:
            answer = self._receive(body, boundary, length, user)
        except Refusal as refused:
            if refused.status != 413:
                _drain(body, length)
            return _answer(start_response, refused.status, refused.message, refused.headers, close=True)
        finally:
            self.room.release(hold)
            self._slots.release()
        return _answer(start_response, 200, answer, [], close=False)

    def _admit(self, environ: dict[str, Any]) -> tuple[str, str, int, Hold]:
        """Everything that can be decided from the request line and headers; takes a slot and
        reserves the declared length on the package volume. Returns the user, the form's boundary,
        its declared length (-1 for a chunked body) and its reservation."""
        if environ.get("REQUEST_METHOD") != "POST":
            raise Refusal(405, "the index takes uploads by POST only; released files are never removed",
                          [("Allow", "GET, HEAD, POST")])
        user = authenticated_user(self.htpasswd, environ.get("HTTP_AUTHORIZATION"))
        if user is None:
            raise Refusal(401, "uploads need a login of the registry's htpasswd; check the user and password",
                          [("WWW-Authenticate", 'Basic realm="helperhub"')])
        try:
            self.backend.check_writable()
        except CatchingUp as exc:
            raise Refusal(503, str(exc), [("Retry-After", str(RETRY_AFTER))]) from None
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = environ.get("CONTENT_LENGTH") or ""
        if not chunked and not length.isdigit():
            raise Refusal(411, "an upload needs a Content-Length (or chunked transfer encoding)")
        if length.isdigit() and int(length) > self.max_bytes + FORM_SLACK:
            raise Refusal(413, f"upload of {length} bytes is larger than the limit of {self.max_bytes} bytes")
        kind, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        if kind != "multipart/form-data" or not options.get("boundary"):
            raise Refusal(400, "an upload is a multipart/form-data form (as twine and uv send it)")
        if not self._slots.acquire(blocking=False):
            raise Refusal(503, "too many uploads at once; retry in a few seconds", [("Retry-After", "5")])
        declared = int(length) if length.isdigit() else -1
        try:
            hold = self.room.reserve(declared)
        except NoRoom as exc:
            self._slots.release()
            raise Refusal(507, str(exc)) from None
        return user, str(options["boundary"]), declared, hold

    def _receive(self, body: _Counted, boundary: str, length: int, user: str) -> str:
        """Parse the form as it arrives and act on it; the answer, or a Refusal."""
        parser = PushMultipartParser(boundary, content_length=length, max_header_count=16, max_segment_count=4096)
        try:
            return self._form(parser.parse_blocking(body.read, CHUNK), user)
        except (UploadForbidden, RegistrationForbidden) as exc:
            raise Refusal(403, str(exc)) from None
        except CatchingUp as exc:
            raise Refusal(503, str(exc), [("Retry-After", str(RETRY_AFTER))]) from None
        except (NotFound, NoRegistration) as exc:
            raise Refusal(404, str(exc)) from None
        except UploadConflict as exc:
            raise Refusal(409, str(exc)) from None
        except UploadTooLarge as exc:
            raise Refusal(413, str(exc)) from None
        except NoRoom as exc:
            raise Refusal(507, str(exc)) from None
        except UploadRefused as exc:
            raise Refusal(400, str(exc)) from None
        except MultipartError as exc:
            raise Refusal(400, f"the upload is not a valid multipart form ({exc})") from None
        except OSError as exc:  # a yank, an image record or an owner's claim on a full volume
            if not out_of_room(exc):
                raise
            raise Refusal(507, room_line(self.backend.root)) from None

    def _form(self, events: Iterator[MultipartSegment | bytes | None], user: str) -> str:
        fields: dict[str, str] = {}
        stored: str | None = None
        used = 0
        for event in events:
            if not isinstance(event, MultipartSegment):
                continue
            if event.name == "content" and event.filename:
                if fields.get(":action") != "file_upload":
                    raise UploadRefused("the form must say :action=file_upload before its content")
                if stored is not None:
                    raise UploadRefused("one file per upload")
                expected = fields.get("sha256_digest") or None
                stored = self.backend.store(event.filename, _payload(events), expected_sha256=expected,
                                            user=user).filename
            else:
                value = b"".join(_payload(events, MAX_FIELD))
                used += len(value)
                if used > MAX_FIELDS:
                    raise UploadRefused(f"the upload's metadata fields exceed {MAX_FIELDS} bytes")
                if event.filename is None and event.name:
                    fields[event.name] = value.decode("utf-8", errors="replace")
        action = fields.get(":action")
        if action in ("yank", "unyank"):
            if stored is not None or not fields.get("name") or not fields.get("version"):
                raise UploadRefused(f"a {action} form has the fields name and version (and for a yank an "
                                    "optional reason), and no file")
            reason = fields.get("reason", "").strip() if action == "yank" else None
            if reason is not None and (len(reason) > MAX_YANK_REASON or any(ord(c) < 32 for c in reason)):
                raise UploadRefused(f"a yank reason is one line of at most {MAX_YANK_REASON} characters; "
                                    "link to the details instead")
            return self.backend.set_yanked(fields["name"], fields["version"].strip(), reason, user)
        if action == "set_image":
            if stored is not None or not all(fields.get(k, "").strip() for k in ("name", "version", "image")):
                raise UploadRefused("a set_image form has the fields name, version and image "
                                    "(repo@sha256:<64 hex digits>), an optional target, and no file")
            target = fields.get("target", "").strip() or TARGET_NAME  # older clients send none
            return self.backend.set_image(fields["name"], fields["version"].strip(), fields["image"], user, target)
        if action == "record_release":
            if stored is not None:
                raise UploadRefused("a record_release form carries its record as a field, and no file")
            return record_form.record_release(self.backend, fields, user)
        if action == "record_mirror":
            if stored is not None:
                raise UploadRefused("a record_mirror form carries its file names as a field, and no file")
            return record_form.record_mirror(self.backend, fields, user)
        if action in ("register", "unregister", "gc", "gc_images") and self.retention is not None:
            if stored is not None:
                raise UploadRefused(f"a {action} form carries fields only, and no file")
            return self.retention.form(fields, user)
        if action == "attach":
            if stored is not None:
                raise UploadRefused("an attach form carries its document as a field, and no file")
            return attestations.attach_document(self.backend, fields, user)
        if stored is None:
            raise UploadRefused("the form has no 'content' file; upload with twine or uv")
        return f"{stored} stored"


def _payload(events: Iterator[MultipartSegment | bytes | None], cap: int | None = None) -> Iterator[bytes]:
    """The body of the current form part, chunk by chunk, until its end."""
    size = 0
    for event in events:
        if event is None:
            return
        if isinstance(event, bytes):
            size += len(event)
            if cap is not None and size > cap:
                raise UploadRefused(f"a form field is larger than {cap} bytes")
            yield event


class _Counted:
    """A body reader that stops at the limit (chunked bodies declare no length), and tells the
    upload's reservation what has arrived."""

    def __init__(self, read: Callable[[int], bytes], limit: int, hold: Hold | None = None) -> None:
        self._read, self.limit, self.size, self.hold = read, limit, 0, hold

    def read(self, size: int) -> bytes:
        data = self._read(size)
        self.size += len(data)
        if self.hold is not None:
            self.hold.arrived = self.size
        if self.size > self.limit:
            raise UploadTooLarge(f"the upload is larger than the limit of {self.limit - FORM_SLACK} bytes")
        return data


LINGER_BYTES = 8 << 20  # of a refused body, read and thrown away after the answer is sent
LINGER_SECONDS = 2.0


class _Lingering:
    """A refusal's answer, then a lingering close: once the server has sent it, up to
    LINGER_BYTES of the body still arriving are read and thrown away (for at most LINGER_SECONDS),
    as nginx does for its own clients. Closing with unread bytes makes the kernel reset the
    connection, and a proxy in front (the nginx front, streaming the body) may then lose the
    answer and report 502 instead of the 401 it was. The decision itself was made before any of
    the body was read."""

    def __init__(self, answer: list[bytes], stream: Any, limit: int = LINGER_BYTES,
                 seconds: float = LINGER_SECONDS) -> None:
        self.answer, self.stream, self.limit, self.seconds = answer, stream, limit, seconds

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.answer)

    def close(self) -> None:
        deadline, left = time.monotonic() + self.seconds, self.limit
        try:
            while left > 0 and time.monotonic() < deadline:
                chunk = self.stream.read(min(1 << 16, left))
                if not chunk:
                    return
                left -= len(chunk)
        except (OSError, ValueError):
            return


def _drain(body: _Counted, length: int) -> None:
    """Read the rest of a declared body, if it is small enough, and throw it away."""
    left = length - body.size
    if length < 0 or left > DRAIN_LIMIT:
        return
    try:
        while left > 0:
            chunk = body.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except (OSError, UploadRefused):
        return
