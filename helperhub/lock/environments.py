"""A locked environment in ``pins.json``: what ``env lock`` resolved a declared environment to.

Per target (the runtime of its helpers' target, ``TargetPin``) and platform, every file a step of
the environment installs: the helpers' wheels, their closures for the extras named, and the extra
packages with what they need, each by file name and sha256. The team's own modules are named with
the hash of their source, and ``inputs`` is the hash of everything the resolution read, so that
an unchanged environment is not resolved again."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.core.envspec import ENV_NAME
from helperhub.core.errors import LockError
from helperhub.lock.closure import SAFE, SHA256
from helperhub.lock.target_pins import TargetPin

FIX = "run `helperhub env lock` again, or restore pins.json from git"
KEYS = ("helpers", "packages", "modules", "index_url", "inputs", "targets")


@dataclass(frozen=True, order=True)
class HelperUse:
    """A helper of the environment, at the version the lock pins, with the extras it is used with."""

    name: str
    version: str
    sha256: str
    extras: tuple[str, ...] = ()

    @property
    def requirement(self) -> str:
        return f"{self.name}[{','.join(self.extras)}]" if self.extras else self.name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "extras": list(self.extras)}


@dataclass(frozen=True, order=True)
class ModulePin:
    """One of the team's own modules: a folder of the repository, as a distribution."""

    path: str  # "src/team_scoring"
    name: str  # the distribution name, "team-scoring"
    source_sha256: str  # of its files (path and content)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "source_sha256": self.source_sha256}


@dataclass(frozen=True)
class EnvironmentPin:
    name: str
    helpers: tuple[HelperUse, ...]
    packages: tuple[str, ...]  # the extra packages (PEP 508): declared, and those its modules declare
    modules: tuple[ModulePin, ...]
    index_url: str  # the private index the files are served by (its /simple/ URL)
    inputs: str  # sha256 of everything resolved from: unchanged, nothing is resolved again
    targets: dict[str, TargetPin] = field(default_factory=dict)

    def require_target(self, name: str | None) -> tuple[str, TargetPin]:
        """The target ``name`` (None: the environment's first), an error naming those it has."""
        key = name or next(iter(self.targets), "")
        found = self.targets.get(key)
        if found is None:
            raise LockError(f"environment {self.name} is not locked for target {key!r}; it is for "
                            f"{', '.join(self.targets) or 'none'}: add it to its targets and run `helperhub env lock`")
        return key, found

    def packages_url(self) -> str:
        """A URL in the index's packages folder, beside which every file of the environment lies."""
        return f"{self.index_url.rstrip('/').removesuffix('/simple')}/packages/-"

    def to_json(self) -> dict[str, Any]:
        return {
            "helpers": [h.to_json() for h in self.helpers], "packages": list(self.packages),
            "modules": [m.to_json() for m in self.modules], "index_url": self.index_url, "inputs": self.inputs,
            "targets": {n: t.to_json() for n, t in self.targets.items()},
        }

    @classmethod
    def from_json(cls, name: str, data: Any) -> EnvironmentPin:
        where = f"pins.json environment {name!r}"
        if not ENV_NAME.fullmatch(name) or not isinstance(data, dict) or set(data) != set(KEYS):
            raise LockError(f"{where} is not {', '.join(KEYS)}; {FIX}")
        try:
            helpers = tuple(HelperUse(canonicalize_name(h["name"]), h["version"], h["sha256"], tuple(h["extras"]))
                            for h in data["helpers"])
            modules = tuple(ModulePin(m["path"], canonicalize_name(m["name"]), m["source_sha256"])
                            for m in data["modules"])
            packages = tuple(str(p) for p in data["packages"])
            targets = data["targets"]
            if not isinstance(targets, dict) or not all(
                SAFE.fullmatch(h.version) and SHA256.fullmatch(h.sha256) for h in helpers
            ) or not all(SHA256.fullmatch(m.source_sha256) for m in modules):
                raise TypeError
        except (KeyError, TypeError, AttributeError):
            raise LockError(f"{where} has helpers, modules or targets of another form; {FIX}") from None
        return cls(name, helpers, packages, modules, str(data["index_url"]), str(data["inputs"]),
                   {t: TargetPin.from_json(f"environment {name}", t, d) for t, d in targets.items()})


def inputs_digest(parts: Any) -> str:
    """The identity of what a resolution read (canonical JSON of ``parts``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
