"""What the catalog pages show: helpers (projects the teams release, with an sdist) and the
third-party projects mirrored for their locked closures, as immutable values the page cache
builds once per upload, plus the pure text derived from them (filter matching, snippets)."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name
from packaging.version import Version

from helperhub.core.defaults import TARGET_NAME

_FOLD = re.compile(r"[-_.]+")
_EXTRA = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a version, linked from the helper page as the simple page links it."""

    filename: str
    sha256: str
    size: int  # bytes


@dataclass(frozen=True)
class HelperVersion:
    version: str
    released: datetime  # upload time; stored in UTC
    yanked: str | None = None  # PEP 592: None when not yanked, "" when yanked without a reason
    requires_dist: tuple[str, ...] = ()  # as METADATA writes them, extras markers included
    requires_python: str | None = None
    image: str | None = None  # the helper image by digest, ``repo@sha256:...``, of its first target
    files: tuple[ReleaseFile, ...] = ()
    # (target, image) of every target an image was recorded for: ``default`` first, then by name
    images: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.released.tzinfo is None:
            raise ValueError(f"{self.version}: release time {self.released} has no time zone")
        object.__setattr__(self, "released", self.released.astimezone(UTC))
        images = dict(self.images) or ({TARGET_NAME: self.image} if self.image else {})
        ordered = tuple(sorted(images.items(), key=lambda item: (item[0] != TARGET_NAME, item[0])))
        object.__setattr__(self, "images", ordered)
        object.__setattr__(self, "image", ordered[0][1] if ordered else None)

    @property
    def only_default_image(self) -> bool:
        """Its one image is the target ``default``'s (a repository without declared targets)."""
        return [t for t, _ in self.images] == [TARGET_NAME]

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None

    @property
    def extras(self) -> tuple[str, ...]:
        """The extras its requirements name, in order of first mention."""
        found = (canonicalize_name(m) for r in self.requires_dist for m in _EXTRA.findall(r))
        return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class HelperEntry:
    """One helper; ``versions`` are kept newest first (PEP 440 order), whatever order they came in."""

    name: str  # canonical (PEP 503)
    display_name: str  # as the newest METADATA spells it
    versions: tuple[HelperVersion, ...]
    owners: tuple[str, ...] = ()
    summary: str = ""
    description: str = ""  # the newest version's long description (uploaded content: never trusted)
    description_content_type: str = ""  # its Description-Content-Type; "" means reStructuredText

    def __post_init__(self) -> None:
        if not self.versions:
            raise ValueError(f"{self.name}: a helper entry needs at least one version")
        if canonicalize_name(self.name) != self.name:
            raise ValueError(f"{self.name!r} is not a canonical project name")
        ordered = tuple(sorted(self.versions, key=lambda v: Version(v.version), reverse=True))
        object.__setattr__(self, "versions", ordered)

    @property
    def newest(self) -> HelperVersion:
        return self.versions[0]

    @property
    def version(self) -> str:
        return self.newest.version

    @property
    def released(self) -> datetime:
        return self.newest.released

    @property
    def yanked(self) -> bool:
        return self.newest.is_yanked

    @property
    def recommended(self) -> HelperVersion:
        """The version the snippets pin: the newest one not yanked, else the newest."""
        return next((v for v in self.versions if not v.is_yanked), self.newest)


@dataclass(frozen=True)
class ThirdParty:
    """A project mirrored into the index (wheels only) so locked closures install offline."""

    name: str
    versions: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "versions", tuple(sorted(self.versions, key=Version, reverse=True)))


@dataclass(frozen=True)
class Snippet:
    label: str
    text: str


def fold(text: str) -> str:
    """Case and separator folding shared with the page's script: ``Tabular_Helpers`` finds
    ``tabular-helpers``."""
    return _FOLD.sub("-", text.lower())


def search_text(entry: HelperEntry) -> str:
    """What the filter looks in: names, summary and owners, folded."""
    return fold(" ".join((entry.name, entry.display_name, entry.summary, *entry.owners)))


def query_terms(query: str) -> list[str]:
    """The words of a filter query, folded as search_text() folds what they are looked for in."""
    return fold(query).split()


def matches(entry: HelperEntry, query: str) -> bool:
    """Every word of ``query`` occurs in the entry's name, summary or owners (case-insensitive)."""
    text = search_text(entry)
    return all(term in text for term in query_terms(query))


def simple_url(index_url: str) -> str:
    """The PEP 503 root of an index given as its base (``http://host:8080``) or its simple URL."""
    base = index_url.strip().rstrip("/")
    base = base.removesuffix("/simple")
    return f"{base}/simple/"


def _needs_trusted_host(url: str) -> str | None:
    """pip ignores a plain-http index unless the host is loopback or named by --trusted-host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or host == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(host).is_loopback else host
    except ValueError:
        return host


def snippets(entry: HelperEntry, index_url: str) -> tuple[Snippet, ...]:
    """The copy-ready commands of a helper page, for its recommended version."""
    simple = simple_url(index_url)
    pin = shlex.quote(f"{entry.name}=={entry.recommended.version}")
    index = shlex.quote(simple)
    trusted = _needs_trusted_host(simple)
    pip_extra = f" --trusted-host {shlex.quote(trusted)}" if trusted else ""
    component = (
        "from helperhub.pipelines import Delivery, helper_component\n\n"
        'delivery = Delivery.from_lock("pins.json", mode="image")\n\n'
        f"@helper_component(helpers=[{json.dumps(entry.name)}], delivery=delivery)"
    )
    return (
        Snippet("pip", f"pip install --index-url {index}{pip_extra} {pin}"),
        Snippet("uv", f"uv pip install --index-url {index} {pin}"),
        Snippet("Pin it in your pipeline repository's pins.json",
                f"helperhub pins bump {shlex.quote(entry.name)} {shlex.quote(entry.recommended.version)}"),
        Snippet("Use it in a component", component),
    )
