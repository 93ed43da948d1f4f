"""Which format of a simple page a client gets (PEP 691 content negotiation). Pure functions.

The registry serves every page as HTML (PEP 503) and as JSON (PEP 691). The client says what it
takes in ``Accept`` (pip: ``application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;
q=0.1, text/html; q=0.01``; uv: the same with ``q=0.2``), or, as on PyPI, in a ``?format=`` query.
HTML stays the answer for a client that asks for nothing, for ``*/*`` and for ``text/html``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import unquote

Format = Literal["html", "json"]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "text/html"
# what the server offers, in the order that settles a tie of equal quality (as PyPI orders them)
OFFERS: tuple[tuple[str, Format], ...] = (
    ("text/html", "html"),
    ("application/vnd.pypi.simple.v1+html", "html"),
    ("application/vnd.pypi.simple.v1+json", "json"),
)
ALIASES = {  # PEP 691's "latest" names the newest version of each format: v1 here
    "application/vnd.pypi.simple.latest+html": "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.latest+json": "application/vnd.pypi.simple.v1+json",
}
CONTENT_TYPES: dict[Format, str] = {"html": "text/html; charset=utf-8", "json": JSON_TYPE}


def _ranges(accept: str) -> list[tuple[str, float]]:
    """(media range, quality) of each element of an Accept header; malformed ones are dropped."""
    ranges: list[tuple[str, float]] = []
    for element in accept.split(","):
        media, *params = (part.strip() for part in element.split(";"))
        media = media.lower()
        if media.count("/") != 1:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = -1.0
        if 0.0 <= quality <= 1.0:
            ranges.append((ALIASES.get(media, media), quality))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The quality the most specific matching range gives ``offer`` (RFC 9110 12.5.1); 0 if none."""
    kind = offer.split("/")[0]
    best, specificity = 0.0, -1
    for media, quality in ranges:
        rank = 2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if rank > specificity:
            best, specificity = quality, rank
    return best if specificity >= 0 else 0.0


@lru_cache(maxsize=256)  # clients send a handful of distinct headers: parse each once
def from_accept(accept: str | None) -> Format:
    """The format an Accept header asks for: the offer of highest quality, ties to HTML; HTML when
    the header is missing or accepts none of the offers (RFC 9110 lets a server ignore it)."""
    if not accept or not accept.strip():
        return "html"
    ranges = _ranges(accept)
    best: Format = "html"
    top = 0.0
    for offer, fmt in OFFERS:
        quality = _quality(offer, ranges)
        if quality > top:
            best, top = fmt, quality
    return best


def _named(value: str) -> Format | None:
    media = unquote(value).strip().lower()
    media = ALIASES.get(media, media)
    return next((fmt for offer, fmt in OFFERS if offer == media), None)


def choose(accept: str | None, query: str = "") -> Format | None:
    """The format to answer with: a ``format=<media type>`` query parameter first (read without
    turning ``+`` into a space: clients write ``v1+json`` in a query as it is), then Accept.
    None when the query names a format the index does not serve (answered 406)."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "format":
            return _named(value)
    return from_accept(accept)
