"""Atom 1.0 (RFC 4287) feeds of the registry's events: pure functions from events to XML text,
built with the standard library's ElementTree, which escapes every value; characters XML cannot
carry (a yank reason is user input) are dropped first."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from urllib.parse import quote

from helperhub.registry.server.events import Event

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
FEED_NAME = "feed.atom"
NO_UPDATE = "1970-01-01T00:00:00Z"  # a feed without entries: updated at the epoch
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def helper_url(index_url: str, project: str) -> str:
    return f"{index_url}/helpers/{quote(project)}/"


def feed_url(index_url: str, project: str | None = None) -> str:
    """Where a feed is served: the index's, or one helper's."""
    return f"{helper_url(index_url, project) if project else index_url + '/'}{FEED_NAME}"


def feed_title(project: str | None = None) -> str:
    return f"{project or 'Helpers'}: releases, yanks and images"


def entry_title(event: Event) -> str:
    what = f"{event.project} {event.version}"
    if event.event == "release":
        return f"{what} released"
    if event.event == "yank":
        return f"{what} yanked" + (f": {event.get('reason')}" if event.get("reason") else "")
    if event.event == "unyank":
        return f"{what} unyanked"
    target = event.get("target")
    return f"{what} image" + (f" for {target}" if target and target != "default" else "")


def entry_summary(event: Event) -> str:
    files = ", ".join(event.files)
    who = f" by {event.by}" if event.by else ""
    if event.event == "release":
        return f"Released{who}: {files}."
    if event.event == "image":
        return f"Image of target {event.get('target')} recorded{who}: {event.get('image')}."
    reason = f" Reason: {event.get('reason')}." if event.get("reason") else ""
    verb = "Yanked" if event.event == "yank" else "Unyanked"
    return f"{verb}{who}: {files}.{reason}"


def _text(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = clean(text)
    return element


def render_feed(index_url: str, events: Sequence[Event], project: str | None = None) -> str:
    """The feed of ``events`` (newest first), of the whole index or of one project."""
    self_url = feed_url(index_url, project)
    page = helper_url(index_url, project) if project else f"{index_url}/"
    feed = ET.Element("feed", {"xmlns": ATOM_NS})
    _text(feed, "id", self_url)
    _text(feed, "title", feed_title(project))
    _text(feed, "subtitle", "New versions, yanks and helper images recorded on the private index.")
    _text(feed, "updated", events[0].time if events else NO_UPDATE)
    ET.SubElement(feed, "link", {"rel": "self", "type": ATOM_TYPE, "href": self_url})
    ET.SubElement(feed, "link", {"rel": "alternate", "type": "text/html", "href": page})
    author = ET.SubElement(feed, "author")
    _text(author, "name", "helperhub registry")
    _text(feed, "generator", "helperhub")
    for event in events:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", f"urn:helperhub:event:{event.id}")
        _text(entry, "title", entry_title(event), type="text")
        _text(entry, "updated", event.time)
        _text(entry, "published", event.time)
        if event.by:
            _text(ET.SubElement(entry, "author"), "name", event.by)
        ET.SubElement(entry, "category", {"term": event.event})
        anchor = "v" + quote(event.version)
        ET.SubElement(entry, "link", {"rel": "alternate", "type": "text/html",
                                      "href": f"{helper_url(index_url, event.project)}#{anchor}"})
        _text(entry, "summary", entry_summary(event), type="text")
    ET.indent(feed, space=" ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
