"""The component factory: one Python function, helpers named, delivery chosen by one setting.

    @helper_component(helpers=["tabular-helpers[plots]"], delivery=delivery)
    def evaluate(...): ...

``image`` uses the helper image by digest and installs nothing; ``package`` pip-installs the exact
pinned wheel and its locked closure from the private index only; ``embedded``, ``volume`` and
``configmap`` run helper code from the working tree (for code not yet released) with the locked
closure of the released pin.

Every step uses one target of the lock (``Delivery.target``, else its helpers' first): that
target's image (by the digest of its index, for several platforms) or that target's closure of
every platform, of which the step installs the files of the machine it runs on.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, LockError
from helperhub.core.targets import machine_of
from helperhub.lock.closure import LockedFile, rebase_url
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.lockfile import ImagePin, PackagePin
from helperhub.pipelines.checks import check_source, deterministic_archive, replace_archive, runtime_guard
from helperhub.pipelines.delivery import (
    CONFIGMAP_MOUNT,
    VOLUME_MOUNT,
    Delivery,
    HelperRef,
    Mode,
    image_for,
    install_set,
    locked_requirement,
    parse_helper,
    pin_target,
    provenance,
    provenance_json,
    require_pin,
    step_platforms,
    step_target,
    trusted_hosts,
)
from helperhub.pipelines.env_step import (
    environment_entries,
    environment_files,
    environment_helpers,
    stage_modules,
)
from helperhub.pipelines.installer import REPORT_ENV, MachineInstall, marked_requirements, uv_script
from helperhub.pipelines.profiles import retarget
from helperhub.release.project import discover, source_digest
from helperhub.release.versions import read_version

PINS_ENV = "HELPERHUB_PINS"
DEFAULT_BASE = defaults.BASE_IMAGE
ISOLATED = "--isolated"
NO_DEPS = "--no-deps"
# pip reads /etc/pip.conf and $VIRTUAL_ENV/pip.conf even with --isolated (which only skips the
# user's config and PIP_* variables); it skips every config file when PIP_CONFIG_FILE is os.devnull.
# Set in the container env, so the step's whole shell (kfp's install command included) sees it,
# under Kubernetes and both kfp.local runners (which pass container.env to the step's process).
NO_PIP_CONFIG = {"PIP_CONFIG_FILE": "/dev/null"}
# version pins: the install report is the record of which wheel (sha256) pip chose, kept in a
# private temp folder; the step-start check reads it through REPORT_ENV
REPORT_PREFIX = f'\n{REPORT_ENV}="$(mktemp -d)/install-report.json" || exit 1\nexport {REPORT_ENV}\n'


@dataclass
class HelperComponent:
    """A KFP component plus what each of its tasks needs (mounts); calls like the component."""

    component: Any  # kfp.dsl.python_component.PythonComponent
    delivery: Delivery
    refs: tuple[HelperRef, ...]
    pins: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task = self.component(*args, **kwargs)
        mode = self.delivery.mode
        if mode in (Mode.VOLUME, Mode.CONFIGMAP):
            from kfp import kubernetes

            if mode is Mode.VOLUME:
                kubernetes.mount_pvc(task, pvc_name=self.delivery.volume_claim, mount_path=VOLUME_MOUNT)
            else:
                for ref in self.refs:
                    kubernetes.use_config_map_as_volume(
                        task, config_map_name=configmap_name(ref.name),
                        mount_path=f"{CONFIGMAP_MOUNT}/{ref.module}",
                    )
        return task

    @property
    def component_spec(self) -> Any:
        return self.component.component_spec

    @property
    def python_func(self) -> Callable[..., Any]:
        return self.component.python_func  # type: ignore[no-any-return]


def configmap_name(helper: str) -> str:
    return f"{helper}-src"


def _working_tree(delivery: Delivery, refs: list[HelperRef]) -> tuple[dict[str, str], dict[str, str], list[Path]]:
    if delivery.source_root is None:
        raise ConfigError(f"mode {delivery.mode} needs the repository root (Delivery.source_root)")
    projects = discover(delivery.source_root)
    versions, sources, srcs = {}, {}, []
    for ref in refs:
        if ref.name not in projects:
            raise ConfigError(f"{ref.name} is not a helper under {delivery.source_root}/helpers")
        project = projects[ref.name]
        versions[ref.name] = str(read_version(project.version_source))
        sources[ref.name] = source_digest(project)
        srcs.append(project.src / project.import_name)
    return versions, sources, srcs


def step_installs(delivery: Delivery, refs: list[HelperRef], pins: list[PackagePin], target: str,
                  platform: str, env: EnvironmentPin | None = None) -> list[tuple[str, LockedFile]]:
    """What a non-image step installs on ``platform`` of ``target``: the locked closure, kfp
    included (and the helper wheels in package mode), each file exact: ``name @ url`` (its sha256
    checked), or ``name==version`` with ``pin_by="version"``; pip's form carries the sha256 in
    the URL, uv's beside it. On an environment ``env``: every file it locked there."""
    fragment = delivery.installer == "pip"
    package = delivery.mode is Mode.PACKAGE
    files = install_set(pins, refs, helpers=package, target=target, platform=platform) if env is None else (
        environment_files(env, target, platform, helpers=package, helper_names=[r.name for r in refs]))
    return [(locked_requirement(f, beside, delivery.pin_by, delivery.index_url, fragment=fragment), f)
            for f, beside in files]


def platforms_of(pins: list[PackagePin], target: str, env: EnvironmentPin | None) -> tuple[str, ...]:
    """The platforms a step can run on: those of the environment's target, else its helpers' shared ones."""
    return env.require_target(target)[1].platforms if env is not None else step_platforms(pins, target)


def base_of(pins: list[PackagePin], target: str) -> str | None:
    """The base the target's images were built from (by digest; an index for several platforms)."""
    for pin in pins:
        chosen = pin_target(pin, target)
        if chosen is not None and (base := (chosen.image.base_image if chosen.image else "") or chosen.base_image):
            return base
    return None


def component_options(delivery: Delivery, refs: list[HelperRef], pins: list[PackagePin],
                      target: str = "", env: EnvironmentPin | None = None) -> dict[str, Any]:
    """The kfp.dsl.component arguments of a mode (without embedded_artifact_path), for ``target``
    (of the environment ``env``, when the step runs on one)."""
    mode = delivery.mode
    if mode is Mode.IMAGE:
        image = image_for(delivery.lock, refs, target) if env is None else environment_image(env, target)
        return {"base_image": retarget(image.ref, delivery.image_registry), "install_kfp_package": False}
    released_base = base_of(pins, target)
    base = delivery.base_image or (retarget(released_base, delivery.image_registry) if released_base else DEFAULT_BASE)
    # kfp is in the closure, locked like the rest: KFP must not add its own
    options: dict[str, Any] = {"base_image": base, "install_kfp_package": False}
    if delivery.installer == "uv":
        return options  # the install command is put in front of the step (uv_command)
    index_url = delivery.index_url or pins[0].index_url
    # one list for every platform of the target: pip skips the files of other machines by marker
    requirements = marked_requirements([(machine_of(p), step_installs(delivery, refs, pins, target, p, env))
                                        for p in platforms_of(pins, target, env)])
    # pip resolves nothing at step start (--no-deps), so what the index gained since cannot come in
    return options | {
        # --isolated: no PIP_* variable of the base image (an extra index in its environment) can
        # add another index, and NO_PIP_CONFIG (the step's env) no config file of it can either:
        # the private index below is the only one pip sees
        "packages_to_install": [ISOLATED, NO_DEPS, *requirements],
        "pip_index_urls": [index_url],
        "pip_trusted_hosts": trusted_hosts(index_url),
    }


def environment_image(env: EnvironmentPin, target: str) -> ImagePin:
    """The image of the environment's target, by digest; none built yet says how to build it."""
    _, locked = env.require_target(target)
    if locked.image is None:
        raise LockError(f"environment {env.name} has no image for target {target} in pins.json; run "
                        f"`helperhub env build {env.name}`, or use mode='package'")
    return locked.image


def uv_command(delivery: Delivery, refs: list[HelperRef], pins: list[PackagePin], target: str = "",
               pins_json: str = "[]", env: EnvironmentPin | None = None) -> list[str]:
    """``sh -c <uv install>`` to put in front of a non-image step's command (installer="uv"):
    the runtime check of ``pins_json``, then each platform's files of ``target`` and uv, of which
    the step installs those of the machine it runs on."""
    installs = []
    for platform in platforms_of(pins, target, env):
        uv = delivery.lock.require_tool("uv", platform)
        installs.append(MachineInstall(machine_of(platform), uv, rebase_url(uv.url(pins[0].url), delivery.index_url),
                                       tuple(step_installs(delivery, refs, pins, target, platform, env))))
    index_url = None if delivery.pin_by == "hash" else delivery.index_url or pins[0].index_url
    reinstall = [p.name for p in pins] if delivery.mode is Mode.PACKAGE else []
    what = f"target {target or defaults.TARGET_NAME} of {', '.join(f'{p.name} {p.version}' for p in pins)}"
    if env is not None:
        what = f"environment {env.name} ({what})"
    script = uv_script(installs, index_url=index_url, reinstall=reinstall, what=what)
    return ["sh", "-c", runtime_guard(pins_json) + script]


def record_install(script: str) -> str:
    """kfp's install command with pip's ``--report`` into a fresh temp folder (version pins: an
    index install leaves no direct_url.json, so the report is the only record of the wheel)."""
    quoted = f"'{ISOLATED}'"
    if script.count(quoted) != 1:
        raise RuntimeError("kfp's pip install command was not found; is kfp 2.17 installed?")
    return REPORT_PREFIX + script.replace(quoted, f'{quoted} --report "${REPORT_ENV}"')


def build_component(func: Callable[..., Any], helpers: Sequence[str], delivery: Delivery,
                    environment: str | None = None) -> HelperComponent:
    """``func`` as a KFP component whose step gets ``helpers`` (or the locked ``environment``: its
    helpers, extra packages and the team's modules) as the delivery's mode says: the image by
    digest, or the locked files installed one by one (working-tree modes add the helper sources,
    and every mode but image the team's modules). The pins travel in the step's environment, where
    its start-up check compares them with what is installed, so a step never runs on helper code
    other than what was compiled."""
    from kfp import dsl  # here, not at the top: the pin commands import this module without running kfp

    env = delivery.lock.require_environment(environment) if environment else None
    if env is not None:
        if helpers:
            raise ConfigError(f"{func.__name__}: give helpers= or environment=, not both (an environment names "
                              "its helpers)")
        helpers = environment_helpers(env, delivery.lock)
    if not helpers:
        raise ConfigError(f"{func.__name__}: name at least one helper package, or an environment")
    refs = [parse_helper(h) for h in helpers]
    pins = [require_pin(delivery.lock, r.name) for r in refs]
    target = step_target(pins, delivery.target) if env is None else env.require_target(delivery.target)[0]
    for pin in pins:  # a target the lock lacks fails here, when the component is defined
        pin_target(pin, target)
    options = component_options(delivery, refs, pins, target, env)
    versions: dict[str, str] = {}
    sources: dict[str, str] = {}
    staged: Path | None = None
    env_paths = {}
    if not delivery.mode.released:
        versions, sources, srcs = _working_tree(delivery, refs)
        env_paths = {Mode.VOLUME: VOLUME_MOUNT, Mode.CONFIGMAP: CONFIGMAP_MOUNT}
        if delivery.mode is Mode.EMBEDDED:
            staged = Path(tempfile.mkdtemp(prefix="helperhub-embed-"))
            for src in srcs:
                shutil.copytree(src, staged / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    if env is not None and env.modules and delivery.mode is not Mode.IMAGE:  # the image holds them
        if delivery.lock_root is None:
            raise ConfigError(f"environment {env.name} has modules: make the delivery with Delivery.from_lock, "
                              "whose folder holds them")
        staged = staged or Path(tempfile.mkdtemp(prefix="helperhub-embed-"))
        stage_modules(env, delivery.lock_root, staged, exact=delivery.mode.released)
    if staged is not None:
        options["embedded_artifact_path"] = str(staged)
    entries = provenance(pins, refs, delivery.mode, versions, sources, delivery.image_registry, target)
    if env is not None:
        entries += environment_entries(env, target, str(delivery.mode), [r.name for r in refs])
    pins_json = provenance_json(entries)
    try:
        comp = dsl.component(func, **options)
        container = comp.component_spec.implementation.container
        source = container.command[-1]
        if staged is not None:
            source = replace_archive(source, deterministic_archive(staged))
    finally:
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
    container.command[-1] = source + check_source(pins_json)
    if not delivery.mode.released or delivery.mode is Mode.PACKAGE:
        if delivery.installer == "uv":
            container.command = [*uv_command(delivery, refs, pins, target, pins_json, env), *container.command]
        else:
            if delivery.mode is Mode.PACKAGE and delivery.pin_by == "version":
                container.command[2] = record_install(container.command[2])
            container.command[2] = runtime_guard(pins_json) + container.command[2]
    variables = {PINS_ENV: pins_json, **NO_PIP_CONFIG}
    if delivery.mode in env_paths:
        variables["PYTHONPATH"] = env_paths[delivery.mode]
    container.env = variables
    return HelperComponent(comp, delivery, tuple(refs), entries)


def helper_component(
    func: Callable[..., Any] | None = None, *, helpers: Sequence[str] = (), delivery: Delivery,
    environment: str | None = None,
) -> Any:
    """Decorator (with or without a function) making a KFP component that uses ``helpers``, or the
    environment ``environment`` of the lock (several helpers, extra packages, the team's modules).

    The one place a pipeline names its helpers: ``delivery`` (usually ``Delivery.from_lock``)
    decides how they reach the step, so switching image/package/working-tree modes changes no
    component code."""
    if func is None:
        return lambda f: build_component(f, helpers, delivery, environment)
    return build_component(func, helpers, delivery, environment)
