"""Targets made concrete for a release: each declared base image pinned by digest in the OCI
registry, and the facts (Python, implementation, glibc, CPU) of each of its platforms read from
that platform's image files (``facts.runtime_facts``), never typed by hand.

Facts of a manifest digest never change, so they are cached by digest: an unchanged re-release
reads the registry's manifests, not the images."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, EngineError
from helperhub.core.fs import atomic_write_text
from helperhub.core.targets import TargetFacts, TargetSpec, checked_facts, default_facts
from helperhub.images.oci import platform_manifests


@dataclass(frozen=True)
class ResolvedTarget:
    """A target as a release uses it: its base pinned, and what runs on each platform."""

    spec: TargetSpec
    base: str  # repo@sha256:... of the base (an index for several platforms); the name when not in a registry
    bases: dict[str, str]  # platform -> the base image of that platform (repo@sha256:<its manifest>)
    facts: dict[str, TargetFacts]  # platform -> what runs there

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def platforms(self) -> tuple[str, ...]:
        return self.spec.platforms

    @property
    def pinned_base(self) -> str:
        """The base by digest, as the lock records it; "" when it is only known by name."""
        return self.base if "@" in self.base else ""

    @property
    def shared(self) -> TargetFacts:
        """The facts every platform shares but the CPU (those of the first platform)."""
        return self.facts[self.spec.platforms[0]]


def default_target(base_image: str) -> ResolvedTarget:
    """The one target of a repository that declares none: ``TARGET_*`` on ``base_image``, today's
    runtime, resolved without an engine."""
    spec = TargetSpec(defaults.TARGET_NAME, base_image, (defaults.TARGET_PLATFORM,))
    return ResolvedTarget(spec, base_image, {defaults.TARGET_PLATFORM: base_image},
                          {defaults.TARGET_PLATFORM: default_facts()})


def registry_of(name: str) -> str:
    """The registry host an image name names (``127.0.0.1:5000/python:3.11-slim``: ``127.0.0.1:5000``);
    "" for a name without one (``python:3.11-slim``)."""
    first, sep, _ = name.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else ""


def base_repository(name: str, registry: str) -> str:
    """Where a base image name lives: a name without a registry host (``python:3.11-slim``) is one
    of ``registry``'s; a full name stays as given."""
    return name if registry_of(name) else f"{registry.rstrip('/')}/{name}"


def split_reference(ref: str) -> tuple[str, str]:
    """``host/repo:tag`` or ``host/repo@sha256:...`` -> (``host/repo``, tag or digest)."""
    if "@" in ref:
        repo, _, digest = ref.partition("@")
        return repo, digest
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag


def resolve_target(spec: TargetSpec, registry: str, client: Callable[[], Any], cache: Path) -> ResolvedTarget:
    """``spec`` with its base pinned by digest in ``registry`` (unless its name has a registry of its
    own) and its facts read per platform (``client``: the Docker engine, opened only when a
    platform's facts are not cached)."""
    from helperhub.images.facts import runtime_facts

    repo, reference = split_reference(base_repository(spec.base_image, registry))
    found = platform_manifests(repo, reference)
    if found is None:
        raise ConfigError(f"base image {spec.base_image} of target {spec.name} is not in the OCI registry "
                          f"({repo}:{reference}); push it there (`make engine` builds the bases this "
                          "repository declares), or fix [tool.helperhub.targets]")
    digest, manifests = found
    bases, facts = {}, {}
    for platform in spec.platforms:
        if platform not in manifests:
            have = ", ".join(sorted(manifests)) or "none"
            raise ConfigError(f"base image {spec.base_image} of target {spec.name} has no {platform} image (it has "
                              f"{have}); push a multi-platform base, or drop {platform} from the target")
        bases[platform] = f"{repo}@{manifests[platform]}"
        record = cache / "facts" / f"{manifests[platform].replace(':', '-')}.json"
        read = _cached_facts(record)
        if read is None:
            try:
                read = runtime_facts(client(), bases[platform])
            except EngineError as exc:
                raise EngineError(f"reading what target {spec.name} runs on {platform}: {exc}") from None
            atomic_write_text(record, json.dumps({**read.__dict__, "glibc": list(read.glibc)}))
        facts[platform] = checked_facts(spec, platform, read)
    first = facts[spec.platforms[0]]
    for platform, other in facts.items():
        if (other.python, other.implementation, other.glibc) != (first.python, first.implementation, first.glibc):
            raise ConfigError(
                f"target {spec.name}'s base runs Python {first.python} (glibc {'.'.join(map(str, first.glibc))}) on "
                f"{spec.platforms[0]} but {other.python} (glibc {'.'.join(map(str, other.glibc))}) on {platform}; "
                "one target is one runtime: build its platforms from one release of the base"
            )
    return ResolvedTarget(spec, f"{repo}@{digest}", bases, facts)


def _cached_facts(record: Path) -> TargetFacts | None:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        return TargetFacts(data["python"], data["implementation"], tuple(data["glibc"]), data["machine"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def resolve_targets(declared: Iterable[TargetSpec], oci_registry: str, client: Callable[[], Any],
                    cache: Path, base_image: str) -> tuple[ResolvedTarget, ...]:
    """Every declared target resolved, in declaration order; none declared: the one target
    ``default`` (``TARGET_*`` on ``base_image``), which needs no engine and no registry.

    A base named without a registry resolves as ``base_image`` does: in ``base_image``'s registry
    (``make engine``'s, which builds the bases), else in the OCI registry images are pushed to. So a
    release into another registry (the Compose stack's) still builds on the engine's bases."""
    specs = tuple(declared)
    if not specs:
        return (default_target(base_image),)
    registry = registry_of(base_image) or oci_registry
    return tuple(resolve_target(spec, registry, client, cache) for spec in specs)
