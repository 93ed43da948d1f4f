"""The pin commands: show the lock (per helper and target) and a pin's locked closure, and report
who pins what. Bumping a pin is ``pin_bump``, checking the pins ``pin_check``, diffing two versions
``pin_history``; their entry points are importable from here too."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import HubError, LockError
from helperhub.lock.lockfile import Lock, PackagePin
from helperhub.lock.target_pins import TargetPin
from helperhub.pipelines.factory import PINS_ENV
from helperhub.pipelines.pin_bump import bump_pin as bump_pin
from helperhub.pipelines.pin_bump import lock_uv as lock_uv
from helperhub.pipelines.pin_check import PinProblem as PinProblem
from helperhub.pipelines.pin_check import check_pins as check_pins
from helperhub.pipelines.pin_check import closure_file_count as closure_file_count
from helperhub.registry.client import IndexSettings, project_files, yanked_versions
from helperhub.release.versions import parse_version

COLUMNS = ("helper", "version", "wheel sha256", "image digest", "modes", "closure")
TARGET_COLUMNS = ("helper", "version", "wheel sha256", "target", "python", "platforms", "image digest", "modes",
                  "closure")


def only_default(lock: Lock) -> bool:
    """Every pin has at most the one target before targets (``default`` on linux/amd64): the
    table keeps its columns from before targets."""
    return all(
        set(pin.targets) <= {defaults.TARGET_NAME}
        and all(t.platforms in ((), (defaults.TARGET_PLATFORM,)) for t in pin.targets.values())
        for pin in lock.packages.values()
    )


def pins_columns(lock: Lock) -> tuple[str, ...]:
    """The columns of `pins show`: per target ones only when some pin has other targets."""
    return COLUMNS if only_default(lock) else TARGET_COLUMNS


def pins_rows(lock: Lock) -> list[tuple[str, ...]]:
    """Per helper (as ``pins_columns`` names them): version, wheel sha256 (short), image digest
    (short), modes it can serve and how many files its locked closure has (0: an old pin that
    cannot say what to install); with targets, one row per target (the helper's first row names
    it): its name (the default marked when there are several), Python, platforms, image and
    closure size per platform."""
    rows: list[tuple[str, ...]] = []
    plain = only_default(lock)
    for name in sorted(lock.packages):
        pin = lock.packages[name]
        if plain:
            rows.append((name, pin.version, pin.sha256[:12], _digest(pin.targets.get(defaults.TARGET_NAME)),
                         _modes(pin.targets.get(defaults.TARGET_NAME)), str(len(pin.closure))))
            continue
        for i, (target_name, target) in enumerate(pin.targets.items() or [("-", None)]):
            first = (name, pin.version, pin.sha256[:12]) if i == 0 else ("", "", "")
            marked = f"{target_name} (default)" if target_name == pin.default_target and len(pin.targets) > 1 else (
                target_name)
            rows.append((*first, marked, _runtime(target), _platforms(target), _digest(target), _modes(target),
                         _closure_sizes(target)))
    return rows


def _digest(target: TargetPin | None) -> str:
    return target.image.ref.split("@", 1)[1][:19] if target and target.image else "-"


def _modes(target: TargetPin | None) -> str:
    return "image, package" if target and target.image else "package"


def _runtime(target: TargetPin | None) -> str:
    if target is None:
        return "-"
    return f"{target.python} ({target.implementation}, glibc {'.'.join(map(str, target.glibc))})"


def _platforms(target: TargetPin | None) -> str:
    return ", ".join(p.split("/", 1)[1] for p in target.platforms) if target and target.platforms else "-"


def _closure_sizes(target: TargetPin | None) -> str:
    """``53`` on one platform, ``amd64 53, arm64 52`` on several."""
    if target is None or not target.closure:
        return "0"
    if len(target.platforms) == 1:
        return str(len(target.files()))
    return ", ".join(f"{p.split('/', 1)[1]} {len(target.closure[p])}" for p in target.platforms)


def closure_rows(lock: Lock, name: str, target: str | None = None,
                 platform: str | None = None) -> list[tuple[str, str, str, str, str]]:
    """name, version, filename, sha256 (short), extras ("-": every install needs it) of each file
    of a pin's locked closure for ``target`` on ``platform`` (None: the default target, its first
    platform): what a step there installs with the helper."""
    pin = _pin(lock, name)
    if target is None and platform is None:
        files = pin.require_closure()
    else:
        chosen = pin.require_target(target)
        if platform is not None and platform not in chosen.platforms:
            raise LockError(f"{pin.name} {pin.version} has no closure for {platform} in target "
                            f"{target or pin.default_target}; it has {', '.join(chosen.platforms) or 'none'}")
        files = chosen.files(platform)
        if not files:
            pin.require_closure()  # the error of a pin from before closures were locked
    return [(f.name, f.version, f.filename, f.sha256[:12], ", ".join(f.extras) or "-") for f in sorted(files)]


def _pin(lock: Lock, name: str) -> PackagePin:
    pin = lock.get(canonicalize_name(name))
    if pin is None:
        raise LockError(
            f"no pin for {name!r} in {LOCK_NAME}; pinned helpers: {', '.join(sorted(lock.packages)) or 'none'}"
        )
    return pin


@dataclass(frozen=True)
class Usage:
    helper: str
    version: str
    pipeline: str
    component: str
    file: str
    mode: str


SKIP_DIRS = {".git", ".venv", ".hub", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


def who_pins(root: Path) -> list[Usage]:
    """Which compiled pipelines (any KFP IR YAML under ``root``) use which helper versions."""
    usages = []
    for path in sorted(root.rglob("*.yaml")):
        if SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        for doc in docs:
            if not isinstance(doc, dict) or "deploymentSpec" not in doc:
                continue
            pipeline = doc.get("pipelineInfo", {}).get("name", "?")
            for executor, spec in sorted(doc["deploymentSpec"].get("executors", {}).items()):
                env = {e["name"]: e.get("value", "") for e in spec.get("container", {}).get("env", [])}
                for entry in json.loads(env.get(PINS_ENV, "[]")):
                    if "files" in entry:  # another file of the step's environment, not a helper
                        continue
                    usages.append(Usage(entry["name"], entry["version"], pipeline,
                                        executor.removeprefix("exec-"), str(path.relative_to(root)), entry["mode"]))
    return usages


def yanked_in_use(usages: Sequence[Usage], lock: Lock) -> tuple[dict[tuple[str, str], str], list[str]]:
    """The (helper, version) pairs in use that their index has yanked, with the reason, asked of
    the index each helper's pin names; and one line per index that could not be asked."""
    yanked: dict[tuple[str, str], str] = {}
    unreachable: list[str] = []
    for helper in sorted({u.helper for u in usages}):
        pin = lock.packages.get(canonicalize_name(helper))
        if pin is None:
            continue
        try:
            marks = yanked_versions(project_files(IndexSettings(pin.index_url), helper))
        except HubError as exc:
            unreachable.append(f"{helper}: {exc}")
            continue
        for u in usages:
            if u.helper == helper and (reason := marks.get(parse_version(u.version))) is not None:
                yanked[(u.helper, u.version)] = reason
    return yanked, unreachable
