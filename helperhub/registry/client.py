"""The one client of the private index: read it the way pip does (PEP 503 simple pages, or PEP 691
JSON ones where upload times are wanted), check what it serves, and the authenticated form posts
(yank, unyank, image records)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from helperhub.core.defaults import CATCH_UP_WAIT, INDEX_READERS, TARGET_NAME
from helperhub.core.dists import dist_version, files_by_version
from helperhub.core.errors import ConfigError, IntegrityError, RegistryError

TIMEOUT = (5.0, 60.0)
JSON_PAGE = "application/vnd.pypi.simple.v1+json"  # PEP 691
# the JSON page first; an index that serves only PEP 503 HTML answers with that
JSON_ACCEPT = f"{JSON_PAGE}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


@dataclass(frozen=True)
class IndexSettings:
    """Where the private index is and how to upload to it."""

    url: str  # base URL, e.g. http://127.0.0.1:8080
    username: str | None = None
    password: str | None = None

    def __post_init__(self) -> None:
        """Refuse what would leak: the URL is copied into pins.json, image history and compiled
        YAML, so credentials in it would be published with every release."""
        parts = urlsplit(self.url)
        if "@" in parts.netloc:
            shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
            raise ConfigError(
                f"the index URL {shown} carries credentials (user@ or user:password@); put the user in "
                "HUB_INDEX_USER and the password in HUB_INDEX_PASSWORD (or a password file), never in the "
                "URL: it would be written into pins.json, image history and compiled YAML"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            got = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"  # not the URL: it may hold a secret
            raise ConfigError(
                f"the index URL must be http:// or https:// with a host ({got}, host {parts.hostname or '-'}); "
                "give one like http://127.0.0.1:8080 or https://pypi.example.org"
            )

    @property
    def base(self) -> str:
        url = self.url.rstrip("/")
        return url[: -len("/simple")] if url.endswith("/simple") else url

    @property
    def simple_url(self) -> str:
        return f"{self.base}/simple/"

    @property
    def upload_url(self) -> str:
        return f"{self.base}/"

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or ""

    @property
    def trusted_hosts(self) -> list[str]:
        """What pip needs as --trusted-host: the bare host for http, nothing for https."""
        return [self.host] if urlsplit(self.base).scheme == "http" else []


@dataclass(frozen=True)
class IndexFile:
    filename: str
    url: str
    sha256: str
    yanked: str | None = None  # PEP 592: None, or the reason ("" when none was given)
    upload_time: str | None = None  # PEP 700, from a JSON page (API 1.1); None when the index does not say

    @property
    def version(self) -> Version | None:
        return dist_version(self.filename)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.yanked: dict[str, str] = {}  # href -> data-yanked (PEP 592)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            found = dict(attrs)
            href = found.get("href")
            if href:
                self.hrefs.append(href)
                if "data-yanked" in found:
                    self.yanked[href] = found["data-yanked"] or ""


def _unreachable(settings: IndexSettings, exc: Exception) -> RegistryError:
    return RegistryError(
        f"cannot reach the package index at {settings.base} ({type(exc).__name__}); "
        "start it with `make registry-up` or set HUB_INDEX_URL"
    )


def parse_simple_page(page_url: str, html: str) -> dict[str, IndexFile]:
    parser = _Links()
    parser.feed(html)
    files: dict[str, IndexFile] = {}
    for href in parser.hrefs:
        url, fragment = urldefrag(urljoin(page_url, href))
        name = url.rsplit("/", 1)[-1]
        sha = fragment.partition("sha256=")[2] if fragment.startswith("sha256=") else ""
        files[name] = IndexFile(name, url, sha, parser.yanked.get(href))
    return files


def project_files(
    settings: IndexSettings, name: str, session: requests.Session | None = None
) -> dict[str, IndexFile]:
    """The files the index lists for a project, with the sha256 of each link; {} if none."""
    page = f"{settings.simple_url}{canonicalize_name(name)}/"
    try:
        resp = (session or requests).get(page, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    if resp.status_code in (303, 404):  # pypiserver redirects unknown names to its fallback
        return {}
    if resp.status_code != 200:
        raise RegistryError(f"{page} answered {resp.status_code}; check the index URL")
    return parse_simple_page(page, resp.text)


def project_files_json(
    settings: IndexSettings, name: str, session: requests.Session | None = None
) -> dict[str, IndexFile]:
    """``project_files`` read from the project's PEP 691 JSON page, which (API 1.1, PEP 700) also
    says when each file was uploaded; an index that answers in HTML gives the files without times."""
    page = f"{settings.simple_url}{canonicalize_name(name)}/"
    try:
        resp = (session or requests).get(page, headers={"Accept": JSON_ACCEPT}, timeout=TIMEOUT,
                                         allow_redirects=False)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    if resp.status_code in (303, 404):
        return {}
    if resp.status_code != 200:
        raise RegistryError(f"{page} answered {resp.status_code}; check the index URL")
    if resp.headers.get("Content-Type", "").partition(";")[0].strip() != JSON_PAGE:
        return parse_simple_page(page, resp.text)
    try:
        return parse_json_page(page, resp.json())
    except (ValueError, TypeError, KeyError, AttributeError):
        raise RegistryError(f"{page} is not a PEP 691 JSON page; check the index URL") from None


def parse_json_page(page_url: str, data: Any) -> dict[str, IndexFile]:
    """The files of a PEP 691 project page (``yanked``: false, true or the reason)."""
    files: dict[str, IndexFile] = {}
    for entry in data["files"]:
        name, url, yanked = entry["filename"], urljoin(page_url, entry["url"]), entry.get("yanked", False)
        uploaded = entry.get("upload-time")
        if not isinstance(name, str) or not isinstance(yanked, bool | str):
            raise ValueError(name)
        files[name] = IndexFile(
            name, url, str(entry.get("hashes", {}).get("sha256", "")),
            None if yanked is False else "" if yanked is True else yanked,
            uploaded if isinstance(uploaded, str) else None,
        )
    return files


def projects_files(settings: IndexSettings, names: Iterable[str]) -> dict[str, dict[str, IndexFile]]:
    """``project_files`` of several projects by canonical name, read ``INDEX_READERS`` at a time
    (a keep-alive session per reader): a release checks dozens of closure pages, and one round
    trip after another is most of what an unchanged re-release spends."""
    wanted = sorted({canonicalize_name(n) for n in names})
    local, sessions = threading.local(), []

    def read(name: str) -> dict[str, IndexFile]:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        return project_files(settings, name, session)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(INDEX_READERS, len(wanted)))) as pool:
            return dict(zip(wanted, pool.map(read, wanted), strict=True))
    finally:
        for session in sessions:
            session.close()


def project_names(settings: IndexSettings, session: requests.Session | None = None) -> list[str]:
    """Every project the index's root page lists (``<a href="name/">``), canonical and sorted."""
    page = settings.simple_url
    try:
        resp = (session or requests).get(page, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    if resp.status_code != 200:
        raise RegistryError(f"{page} answered {resp.status_code}; check the index URL")
    parser = _Links()
    parser.feed(resp.text)
    names = {canonicalize_name(href.rstrip("/").rsplit("/", 1)[-1]) for href in parser.hrefs if href.strip("/")}
    return sorted(names)


def yanked_versions(files: dict[str, IndexFile]) -> dict[Version, str]:
    """Versions whose every file is yanked, with the reason (PEP 592 yanks a version as a whole)."""
    return {v: next((f.yanked for f in fs if f.yanked), "") for v, fs in files_by_version(files.values())
            if all(f.yanked is not None for f in fs)}


def newest_version(files: dict[str, IndexFile]) -> Version | None:
    versions = [v for f in files.values() if (v := f.version) is not None]
    return max(versions, default=None)


def fetch_sha256(settings: IndexSettings, url: str) -> str:
    """Download a file the index serves and return the sha256 of the bytes received."""
    digest = hashlib.sha256()
    try:
        with requests.get(url, timeout=TIMEOUT, stream=True) as resp:
            if resp.status_code != 200:
                raise RegistryError(f"{url} answered {resp.status_code}; the file is not served")
            for chunk in resp.iter_content(1 << 20):
                digest.update(chunk)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    return digest.hexdigest()


def verify_served(settings: IndexSettings, file: IndexFile, expected: str) -> None:
    """The served bytes and the index's own link hash must both equal ``expected``."""
    served = fetch_sha256(settings, file.url)
    if served != expected or (file.sha256 and file.sha256 != expected):
        raise IntegrityError(
            f"{file.filename}: the index serves sha256 {served} (link says {file.sha256 or '-'}) "
            f"but {expected} was released; do not use this file, investigate the registry"
        )


@dataclass(frozen=True)
class IndexHealth:
    """The index's ``GET /health``: reads are served; writes once a start has caught up."""

    writes: bool
    done: int = 0
    total: int = 0


def index_health(settings: IndexSettings) -> IndexHealth | None:
    """None while the index answers no reads; an index whose /health is not JSON (stock
    pypiserver, an older registry) takes writes whenever it answers."""
    try:
        resp = requests.get(f"{settings.base}/health", timeout=(1.0, 2.0))
    except requests.RequestException:
        return None
    if resp.status_code != 200:
        return None
    try:
        answer = resp.json()
    except ValueError:
        return IndexHealth(writes=True)
    if not isinstance(answer, dict) or not answer.get("reads", True):
        return None
    progress = answer.get("catching_up")
    progress = progress if isinstance(progress, dict) else {}
    return IndexHealth(bool(answer.get("writes", True)), int(progress.get("done", 0)), int(progress.get("total", 0)))


def health(settings: IndexSettings) -> bool:
    """The index answers reads."""
    return index_health(settings) is not None


def writable(settings: IndexSettings) -> bool:
    """The index takes uploads (it answers, and has caught up after its start)."""
    state = index_health(settings)
    return state is not None and state.writes


def wait_writable(settings: IndexSettings, timeout: float = CATCH_UP_WAIT,
                  on_wait: Callable[[IndexHealth], None] | None = None) -> None:
    """Wait while the index catches up after a start (it answers uploads 503 meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        state = index_health(settings)
        if state is not None and state.writes:
            return
        if time.monotonic() > deadline:
            shown = f"{state.done} of {state.total} done" if state else "not answering"
            raise RegistryError(f"the index at {settings.base} does not take uploads after {timeout:.0f} s "
                                f"({shown}); see its log, then retry")
        if on_wait is not None and state is not None:
            on_wait(state)
        time.sleep(0.2)


def post_form(settings: IndexSettings, form: dict[str, tuple[None, str]], what: str) -> str:
    """An authenticated form post to the upload endpoint (yank, unyank, set_image): the index's
    answer, or one line saying why it refused ``what`` ("to yank NAME VERSION")."""
    if not settings.username or not settings.password:
        raise ConfigError(f"the index login is needed {what}: set HUB_INDEX_USER and HUB_INDEX_PASSWORD "
                          "(or --user and --password-file)")
    for _attempt in range(2):  # a 503 of an index catching up after a start: wait it out, once
        try:
            resp = requests.post(settings.upload_url, files=form, auth=(settings.username, settings.password),
                                 timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise _unreachable(settings, exc) from None
        if resp.status_code != 503:
            break
        wait_writable(settings)
    answer = resp.text.strip()
    if resp.status_code == 200:
        return answer
    if resp.status_code == 401:
        raise ConfigError(f"the index at {settings.base} refused the login of {settings.username}; "
                          "check HUB_INDEX_USER and HUB_INDEX_PASSWORD")
    raise RegistryError(f"the index refused {what} ({resp.status_code}): {answer or resp.reason}")


def record_image_on_index(settings: IndexSettings, name: str, version: str, ref: str, *,
                          target: str = TARGET_NAME) -> str:
    """Tell the index which helper image (``repo@sha256:...``, an image index for several
    platforms) a released version has for ``target``, for its catalog to show
    (``:action=set_image``; only an owner of the project may); the index's answer. The target
    ``default`` is sent as the form before targets, which every index understands."""
    form = {":action": (None, "set_image"), "name": (None, canonicalize_name(name)), "version": (None, version),
            "image": (None, ref)}
    if target != TARGET_NAME:
        form["target"] = (None, target)
    what = f"{name} {version}" + (f" (target {target})" if target != TARGET_NAME else "")
    return post_form(settings, form, f"to record the image of {what}")


def record_release_on_index(settings: IndexSettings, name: str, version: str, record: dict[str, Any]) -> str:
    """Record a release's lock entry and mirrored files on the index (``:action=record_release``;
    only an owner of the project may); the index's answer."""
    form = {":action": (None, "record_release"), "name": (None, name), "version": (None, version),
            "record": (None, json.dumps(record, sort_keys=True))}
    return post_form(settings, form, f"to record {name} {version}")


def record_mirror_on_index(settings: IndexSettings, files: Iterable[str]) -> str:
    """Tell the index that ``files`` (uploaded by this login) were mirrored for an environment, not
    released: third-party in its catalog (``:action=record_mirror``); the index's answer."""
    form = {":action": (None, "record_mirror"), "files": (None, json.dumps(sorted(files)))}
    return post_form(settings, form, "to record the mirrored files")


def index_helpers(settings: IndexSettings, session: requests.Session | None = None) -> set[str] | None:
    """The projects the index counts as helpers (its release records' rule); None for an index
    that does not say (an older registry, stock pypiserver)."""
    try:
        resp = (session or requests).get(f"{settings.base}/helpers.json", timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    if resp.status_code != 200:
        return None
    try:
        names = resp.json().get("helpers")
    except (ValueError, AttributeError):
        return None
    return {canonicalize_name(n) for n in names if isinstance(n, str)} if isinstance(names, list) else None


def yank_form(name: str, version: str, reason: str | None, *, undo: bool = False) -> dict[str, tuple[None, str]]:
    """The multipart fields the index takes (``None`` file names: plain form fields)."""
    try:
        Version(version)
    except InvalidVersion:
        raise ConfigError(f"{version!r} is not a version; give one like 1.2.0") from None
    fields = {":action": (None, "unyank" if undo else "yank"), "name": (None, canonicalize_name(name)),
              "version": (None, version)}
    if reason and not undo:
        fields["reason"] = (None, reason)
    return fields


def set_yanked(settings: IndexSettings, name: str, version: str, reason: str | None = None, *,
               undo: bool = False) -> str:
    """Yank (or, with ``undo``, unyank) every file of NAME VERSION; the index's answer."""
    form = yank_form(name, version, reason, undo=undo)
    return post_form(settings, form, f"to {'unyank' if undo else 'yank'} {name} {version}")


def attach_on_index(settings: IndexSettings, name: str, version: str, document: bytes, *, file: str | None = None,
                    target: str | None = None) -> str:
    """Store a release's document on the index (``:action=attach``; only an owner may): the signed
    provenance of ``file``, or the SBOM of ``target``. The index's answer; one it holds with other
    bytes is refused (409)."""
    kind, key, value = ("provenance", "file", file) if file is not None else ("sbom", "target", target or TARGET_NAME)
    form = {":action": (None, "attach"), "name": (None, canonicalize_name(name)), "version": (None, version),
            "kind": (None, kind), key: (None, value), "document": (None, document.decode())}
    return post_form(settings, form, f"to attach the {kind} of {file or f'{name} {version} ({value})'}")


def provenance_url(file_url: str) -> str:
    """Where the index serves the signed provenance of the file at ``file_url``."""
    return f"{urldefrag(file_url)[0]}.provenance.json"


def sbom_url(settings: IndexSettings, name: str, version: str, target: str) -> str:
    """Where the index serves the SBOM of a release for ``target``."""
    return f"{settings.base}/helpers/{canonicalize_name(name)}/{version}/{target}.cdx.json"


def release_record_url(settings: IndexSettings, name: str, version: str) -> str:
    """Where the index serves the record a release made of a version (its lock entry)."""
    return f"{settings.base}/helpers/{canonicalize_name(name)}/{version}/release.json"


def fetch_document(settings: IndexSettings, url: str) -> bytes | None:
    """A document the index serves (provenance, SBOM); None when it has none."""
    try:
        resp = requests.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise RegistryError(f"{url} answered {resp.status_code}; check the index")
    return resp.content
