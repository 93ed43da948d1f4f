"""Which targets a released version has, as a repository that only reaches the registries sees it:
the OCI registry's tags of the helper (``<version>`` for the target ``default``,
``<version>-<target>`` for a declared one; a multi-platform target's ``-amd64``/``-arm64`` tags are
its platforms, not targets) and what runs there, from the labels of each platform's image.

The labels decide: a tag is a target of ``version`` only if its image says it is (its version and
target labels), so a per-platform tag or another version's tag is never taken for one."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests

from helperhub.core import defaults
from helperhub.core.errors import EngineError
from helperhub.core.targets import MACHINES, NAME_PATTERN, TargetFacts, default_facts, image_tag, machine_of
from helperhub.images.context import LABEL_PREFIX
from helperhub.images.oci import TIMEOUT, platform_manifests, remote_image, split_repository
from helperhub.images.target_context import GLIBC_LABEL, IMPLEMENTATION_LABEL, PYTHON_LABEL, TARGET_LABEL

VERSION_LABEL = f"{LABEL_PREFIX}version"
ARCH_SUFFIXES = tuple(f"-{p.split('/', 1)[1]}" for p in MACHINES)  # a platform's own tag: 1.2.0-py311-arm64
MAX_TAG_PAGES = 100  # of the registry's paginated tag list; a helper has far fewer tags


@dataclass(frozen=True)
class TargetImage:
    """One target's image of a released version, as the OCI registry holds it."""

    name: str  # the target: "default", "py313"
    repository: str  # <registry>/<helper>
    tag: str  # image_tag(version, name)
    digest: str  # of the tag: an image index for a multi-platform target
    platforms: dict[str, str]  # platform -> its image manifest's digest (of the supported platforms)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # platform -> its image's labels

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def is_index(self) -> bool:
        """Several platforms behind one digest (else the tag is one platform's manifest)."""
        return self.platforms != {next(iter(self.platforms), ""): self.digest}

    @property
    def facts(self) -> TargetFacts:
        """What runs there, but the CPU: from the first platform's labels (``default`` without
        them: ``TARGET_*``, as before targets)."""
        return target_facts(self.name, self.labels.get(next(iter(self.platforms), ""), {}))

    def facts_on(self, platform: str) -> TargetFacts:
        shared = self.facts
        return TargetFacts(shared.python, shared.implementation, shared.glibc, machine_of(platform))


def target_facts(name: str, labels: dict[str, str]) -> TargetFacts:
    """The facts an image's labels state; the target ``default`` without them (an image built
    before targets) is ``TARGET_*``. Other labels missing or unreadable: an error naming them."""
    keys = (PYTHON_LABEL, IMPLEMENTATION_LABEL, GLIBC_LABEL)
    if name == defaults.TARGET_NAME and not any(k in labels for k in keys):
        return default_facts()
    try:
        major, minor = (int(part) for part in labels[GLIBC_LABEL].split("."))
        return TargetFacts(labels[PYTHON_LABEL], labels[IMPLEMENTATION_LABEL], (major, minor), defaults.TARGET_MACHINE)
    except (KeyError, ValueError):
        shown = ", ".join(f"{k}={labels.get(k, '<missing>')}" for k in keys)
        raise EngineError(f"the image of target {name} does not say what it runs ({shown}); "
                          "re-release it with a helperhub that labels images by target") from None


def list_tags(repository: str) -> list[str]:
    """Every tag of ``repository`` (``/v2/<name>/tags/list``, following its pages); none when the
    registry has no such repository."""
    host, path = split_repository(repository)
    url: str | None = f"http://{host}/v2/{path}/tags/list"
    tags: list[str] = []
    for _ in range(MAX_TAG_PAGES):
        if url is None:
            break
        try:
            resp = requests.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise EngineError(f"cannot reach the OCI registry at {host} ({type(exc).__name__}); "
                              "start it with `make engine` or set HUB_OCI_REGISTRY") from None
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise EngineError(f"{repository}: listing its tags, the OCI registry answered {resp.status_code}")
        tags.extend(resp.json().get("tags") or [])
        url = _next_page(host, resp.links.get("next", {}).get("url"))
    return tags


def _next_page(host: str, link: str | None) -> str | None:
    if not link:
        return None
    return link if link.startswith("http") else f"http://{host}{link}"


def candidate_tags(tags: list[str], version: str) -> dict[str, str]:
    """Target name -> tag of the tags that may be targets of ``version``, in name order (the
    plain tag: ``default``); a platform's own tag of another candidate is left out."""
    found: dict[str, str] = {}
    for tag in tags:
        if tag == version:
            found[defaults.TARGET_NAME] = tag
        elif tag.startswith(f"{version}-") and NAME_PATTERN.fullmatch(name := tag[len(version) + 1:]):
            found[name] = tag
    platform_tags = {n for n in found if n.endswith(ARCH_SUFFIXES) and n.rsplit("-", 1)[0] in found}
    return {n: found[n] for n in sorted(found) if n not in platform_tags}


def target_images(repository: str, version: str, tags: list[str] | None = None) -> list[TargetImage]:
    """The targets ``version`` has images of in ``repository`` (``tags``: its tags, when read
    already), ``default`` first, then by name: each with its digest, platforms and labels."""
    found = []
    for name, tag in candidate_tags(list_tags(repository) if tags is None else tags, version).items():
        image = _target_image(repository, version, name, tag)
        if image is not None:
            found.append(image)
    return sorted(found, key=lambda t: (t.name != defaults.TARGET_NAME, t.name))


def _target_image(repository: str, version: str, name: str, tag: str) -> TargetImage | None:
    listed = platform_manifests(repository, tag)
    if listed is None:
        return None
    digest, manifests = listed
    platforms = {p: manifests[p] for p in MACHINES if p in manifests}  # not attestations (unknown/unknown)
    labels = {}
    for platform, manifest in platforms.items():
        image = remote_image(repository, manifest)
        if image is None:
            raise EngineError(f"{repository}:{tag} lists a {platform} image {manifest} the registry does not have; "
                              "push the tag again")
        labels[platform] = image.labels
    first = labels.get(next(iter(platforms), ""), {})
    said = first.get(TARGET_LABEL, defaults.TARGET_NAME)
    if not platforms or first.get(VERSION_LABEL) != version or said != name or image_tag(version, name) != tag:
        return None  # a platform's own tag, another version's, or not a helper image
    return TargetImage(name, repository, tag, digest, platforms, labels)
