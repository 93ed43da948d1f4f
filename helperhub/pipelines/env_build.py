"""`env build`: one image per locked environment and target, pushed by digest into pins.json.

Each platform's image is a helper image (the one holding most of the environment's files) with
layers appended through the registry API (``images.append``): the files the helper image lacks,
installed on the host for that platform by the lock's uv (``--no-deps --require-hashes``: nothing
resolved), a layer per file while they are few (adding a package pushes only its own files), and
one layer of the team's modules. No engine, no emulation: a team's CI builds without a
Docker daemon, and every layer is deterministic, so two machines give the same digest. Several
platforms make an image index. The tag is a hash of everything that goes in, so a build with
nothing changed finds its image and pushes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from platform import machine as host_machine
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import EngineError, LockError
from helperhub.core.fs import atomic_write_text
from helperhub.core.progress import Reporter
from helperhub.core.signing import SigningKey
from helperhub.core.targets import platform_of
from helperhub.images import registry_api
from helperhub.images.append import NewLayer, appended, push_appended, read_base
from helperhub.images.context import locked_url
from helperhub.images.layer import VENV, Layer, pack_layer, tree_entries
from helperhub.images.referrers import DSSE_TYPE, PROVENANCE_ARTIFACT, SBOM_ARTIFACT, TITLE, attach, referrers
from helperhub.images.venv_tree import REPORT, host_uv, install_files
from helperhub.lock.closure import LockedFile, closure_sha256, rebase_url
from helperhub.lock.environments import EnvironmentPin, inputs_digest
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin, load_lock, modify_lock
from helperhub.pipelines.env_step import stage_modules
from helperhub.release.attest import signed
from helperhub.release.provenance import environment_statement, sbom_name
from helperhub.release.sbom import environment_sbom

IMAGE_FORMAT = 3  # of the environment images' layout: part of each tag, so a new layout builds anew
MAX_FILE_LAYERS = 40  # up to this many files the helper image lacks, each is a layer (else one for all)
ENV_LABEL = "io.helperhub.environment"
CLOSURE_LABEL = "io.helperhub.environment.closure-sha256"
MODULES_LABEL = "io.helperhub.environment.modules-sha256"


@dataclass(frozen=True)
class EnvBuildSettings:
    """Where ``env build`` pushes and caches (built once by the CLI, or by a test)."""

    root: Path
    oci_registry: str
    cache: Path
    repository: str = ""  # the images' repository under the registry; "": the project's name


@dataclass(frozen=True)
class Built:
    environment: str
    target: str
    image: ImagePin
    pushed: bool  # False: the image of these inputs was there already


def build_environments(settings: EnvBuildSettings, names: Sequence[str], report: Reporter,
                       key: SigningKey | None = None) -> list[Built]:
    """Build (or find) the image of every target of the environments ``names`` (none: all the lock
    has) and record each digest in the lock; with ``key``, each image gets its SBOM and signed
    provenance attached (once: a found image that has them is left as it is)."""
    lock_path = settings.root / LOCK_NAME
    lock = load_lock(lock_path)
    if not lock.environments:
        raise LockError(f"{lock_path} holds no environment; declare one and run `helperhub env lock`")
    envs = [lock.require_environment(n) for n in names] if names else [lock.environments[n]
                                                                        for n in sorted(lock.environments)]
    done = [build_target(settings, lock, env, target, report) for env in envs for target in env.targets]
    if key is not None:
        for env in envs:
            for item in done:
                if item.environment == env.name:
                    attest_environment(lock, env, item.target, item.image, key, report)

    def change(current: Lock) -> Lock:
        for env in envs:
            now = current.environments.get(env.name)
            if now is None or now.inputs != env.inputs or now.modules != env.modules:
                raise LockError(f"environment {env.name} was locked again while it was built; run `helperhub env "
                                "build` again")
            targets = dict(now.targets)
            for item in done:
                if item.environment == env.name:
                    targets[item.target] = replace(targets[item.target], image=item.image,
                                                   base_image=item.image.base_image)
            current = current.with_environment(replace(now, targets=targets))
        return current

    modify_lock(lock_path, change)
    return done


def image_repository(settings: EnvBuildSettings, env: str) -> str:
    """``HOST/<project>/<environment>``: teams sharing a registry keep their environments apart."""
    project = settings.repository or _project_name(settings.root)
    return f"{settings.oci_registry}/{project}/{env}"


def _project_name(root: Path) -> str:
    import tomllib

    try:
        name = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        name = root.resolve().name
    return str(canonicalize_name(str(name))).replace("_", "-")


def base_helper(lock: Lock, env: EnvironmentPin, target: str) -> PackagePin:
    """The helper whose image for ``target`` holds the most of the environment's files."""
    _, locked = env.require_target(target)
    wanted = {f.filename for files in locked.closure.values() for f in files}
    best: tuple[int, PackagePin] | None = None
    for use in env.helpers:
        pin = lock.require(use.name, fix=f"helperhub pins bump {use.name} {use.version}")
        there = pin.targets.get(target)
        if there is None or there.image is None:
            continue
        held = {f.filename for files in there.closure.values() for f in files} | {pin.wheel}
        if best is None or len(held & wanted) > best[0]:
            best = (len(held & wanted), pin)
    if best is None:
        raise LockError(f"environment {env.name}: none of its helpers has an image for target {target}; pin releases "
                        "with images (`helperhub pins bump`), or use mode='package'")
    return best[1]


def platform_base(image: ImagePin, platform: str) -> str:
    """The single-platform manifest of ``image`` for ``platform``, by digest."""
    repository = image.ref.partition("@")[0]
    return f"{repository}@{image.platforms[platform]}" if image.platforms else image.ref


def environment_tag(env: EnvironmentPin, target: str, bases: dict[str, str]) -> str:
    """``<target>-<hash>`` of everything the image is made of: its files, modules and bases."""
    _, locked = env.require_target(target)
    ident = inputs_digest({"format": IMAGE_FORMAT, "closure": {p: [f.to_json() for f in files]
                                                              for p, files in locked.closure.items()},
                           "modules": [m.to_json() for m in env.modules], "bases": bases})
    return f"{target}-{ident[:20]}"


def build_target(settings: EnvBuildSettings, lock: Lock, env: EnvironmentPin, target: str,
                 report: Reporter) -> Built:
    """The image of ``env`` for ``target``: found by its tag, else built and pushed."""
    _, locked = env.require_target(target)
    helper = base_helper(lock, env, target)
    helper_image = helper.require_target(target).image
    assert helper_image is not None  # base_helper
    bases = {p: platform_base(helper_image, p) for p in locked.platforms}
    missing = [p for p in locked.platforms if helper_image.platforms and p not in helper_image.platforms]
    if missing:
        raise LockError(f"environment {env.name}: the image of {helper.name} {helper.version} for target {target} has "
                        f"no {', '.join(missing)}; re-release it for those platforms")
    repository = image_repository(settings, env.name)
    tag = environment_tag(env, target, bases)
    found = _existing(f"{repository}:{tag}")
    if found is not None:
        return Built(env.name, target, _pin(repository, tag, found, helper_image, settings), pushed=False)
    with report.step(f"building {repository}:{tag} on {helper.name} {helper.version}"):
        if len(locked.platforms) == 1:  # one platform: its manifest is the image, under the tag at once
            (platform,) = locked.platforms
            digest = _build_platform(settings, lock, env, target, platform, helper, bases[platform],
                                     f"{repository}:{tag}")
            digests = {}
        else:  # each platform's by digest, then the index under the tag
            digests = {p: _build_platform(settings, lock, env, target, p, helper, bases[p], repository)
                       for p in locked.platforms}
            try:
                digest = registry_api.index(f"{repository}:{tag}", [f"{repository}@{d}" for d in digests.values()])
            except registry_api.Failure as exc:
                raise EngineError(f"pushing {repository}:{tag}: {exc}") from None
    platforms = digests
    image = ImagePin(f"{repository}@{digest}", f"{repository}:{tag}", helper_image.ref, settings.oci_registry,
                     platforms)
    return Built(env.name, target, image, pushed=True)


def _existing(ref: str) -> tuple[str, dict[str, str]] | None:
    """(digest, platform -> manifest digest for an index) of the image ``ref`` tags, if there."""
    try:
        found = registry_api.get_manifest(ref)
    except registry_api.Failure as exc:
        raise EngineError(f"{exc}; start the OCI registry (`make engine`) or set HUB_OCI_REGISTRY") from None
    if found is None:
        return None
    media_type, body = found
    platforms = {}
    if media_type in registry_api.INDEX_TYPES:
        for entry in json.loads(body)["manifests"]:
            item = entry.get("platform", {})
            platforms[f"{item.get('os')}/{item.get('architecture')}"] = str(entry["digest"])
    return registry_api.digest_of(body), platforms


def _pin(repository: str, tag: str, found: tuple[str, dict[str, str]], helper_image: ImagePin,
         settings: EnvBuildSettings) -> ImagePin:
    digest, platforms = found
    return ImagePin(f"{repository}@{digest}", f"{repository}:{tag}", helper_image.ref, settings.oci_registry,
                    platforms)


def _build_platform(settings: EnvBuildSettings, lock: Lock, env: EnvironmentPin, target: str, platform: str,
                    helper: PackagePin, base_ref: str, ref: str) -> str:
    """One platform's image: the helper image with the environment's other files (a layer each,
    while they are few), its modules (one layer) and the install report of every file (the
    step-start check's) appended, pushed as ``ref`` (REPO:TAG, or a repository: by its digest);
    its manifest digest."""
    _, locked = env.require_target(target)
    files = locked.files(platform)
    in_image = {f.name: f for f in (*helper.require_target(target).files(platform), helper.wheel_file())}
    for f in files:
        held = in_image.get(f.name)
        if held is not None and (held.filename, held.sha256) != (f.filename, f.sha256):
            raise LockError(f"environment {env.name}: the image of {helper.name} holds {held.filename} but the "
                            f"environment locks {f.filename}; run `helperhub env lock {env.name}` again")
    extra = [f for f in files if f.name not in in_image]
    base = read_base(base_ref, settings.cache / "env-bases")
    facts = locked.facts(platform)
    site = f"{VENV}/lib/python{facts.python}/site-packages".lstrip("/")
    labels = {ENV_LABEL: env.name, CLOSURE_LABEL: closure_sha256(files),
              MODULES_LABEL: inputs_digest([m.to_json() for m in env.modules])}
    layers = []
    if extra:
        uv = lock.require_tool("uv", platform_of(host_machine()))
        url = rebase_url(uv.url(env.packages_url()), env.index_url)

        def install(group: Sequence[LockedFile]) -> Callable[[Path], None]:
            def fill(root: Path) -> None:
                install_files(host_uv(settings.cache, uv, url), root / VENV.lstrip("/"),
                              [locked_url(f, env.packages_url(), env.index_url) for f in group], facts,
                              root.with_suffix(".txt"))
            return fill

        # a layer per file while they are few: adding a package installs and pushes its own files only
        groups = [[f] for f in extra] if len(extra) <= MAX_FILE_LAYERS else [extra]
        for group in groups:
            named = group[0].filename if len(group) == 1 else f"{len(group)} files"
            key = {"files": [f.to_json() for f in group], "facts": repr(facts)}
            layers.append(cached_layer(settings.cache, key, install(group),
                                       f"helperhub: {named} of environment {env.name} for {platform}, installed on "
                                       "the host"))
    if env.modules:
        def modules(root: Path) -> None:
            (root / site).mkdir(parents=True)
            stage_modules(env, settings.root, root / site, exact=True)

        key = {"modules": [m.to_json() for m in env.modules], "site": site}
        layers.append(cached_layer(settings.cache, key, modules, f"helperhub: the modules of environment {env.name}"))
    # every file the image holds for the environment: those its helper image installed and those added
    report = install_report([*{f.name: f for f in (*_helper_report_files(helper, target, platform), *files)}.values()])

    def write_report(root: Path) -> None:  # the step-start check reads it: every file, by sha256
        path = root / VENV.lstrip("/") / REPORT
        path.parent.mkdir(parents=True)
        path.write_text(report)

    layers.append(cached_layer(settings.cache, {"report": report}, write_report,
                               f"helperhub: the install report of environment {env.name}"))
    config, media_type, manifest = appended(base, layers, labels, str(base.run.get("User") or ""))
    if ":" not in ref.rpartition("/")[2]:  # a repository: the manifest goes in by its digest
        ref = f"{ref}@{registry_api.digest_of(manifest)}"
    return push_appended(base, ref, layers, config, media_type, manifest)


def _helper_report_files(helper: PackagePin, target: str, platform: str) -> list[LockedFile]:
    """The files the helper image's own install report names: the helper and the helpers it
    depends on (helper.Dockerfile's second layer)."""
    names = {helper.name, *(canonicalize_name(Requirement(r).name) for r in helper.depends)}
    return [helper.wheel_file(), *(f for f in helper.require_target(target).files(platform)
                                   if f.name in names and f.name != helper.name)]


def install_report(files: Sequence[LockedFile]) -> str:
    """An install report as the image's RECORD program writes one: each file's name and sha256."""
    items = [{"metadata": {"name": f.name}, "download_info": {"archive_info": {"hashes": {"sha256": f.sha256}}}}
             for f in sorted(files)]
    return json.dumps({"install": items}, sort_keys=True)


def cached_layer(cache: Path, key: Mapping[str, Any], fill: Callable[[Path], None], comment: str) -> NewLayer:
    """The layer of a tree ``fill`` makes in an empty folder, kept under ``cache`` by ``key`` (what
    goes in): an environment built again, or with one more package, packs only what is new."""
    ident = inputs_digest({"format": IMAGE_FORMAT, **key})
    folder = cache / "env-layers"
    gz, meta = folder / f"{ident}.tar.gz", folder / f"{ident}.json"
    if gz.is_file() and meta.is_file():
        known = json.loads(meta.read_text())
        return NewLayer(Layer(known["diff_id"], known["digest"], known["size"]), gz, comment)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="helperhub-envlayer-", dir=folder) as tmp:
        root = Path(tmp, "root")
        fill(root)
        layer = pack_layer(tree_entries(root), Path(tmp, "layer.tar"), Path(tmp, "layer.tar.gz"))
        os.replace(Path(tmp, "layer.tar.gz"), gz)
    atomic_write_text(meta, json.dumps({"diff_id": layer.diff_id, "digest": layer.digest, "size": layer.size}),
                      durable=False)  # a cache: lost, the layer is made again
    return NewLayer(layer, gz, comment)


def attest_environment(lock: Lock, env: EnvironmentPin, target: str, image: ImagePin, key: SigningKey,
                       report: Reporter) -> bool:
    """Attach the SBOM of ``env``'s image for ``target`` and its provenance signed with ``key``;
    False when the image has its provenance already."""
    repository, _, digest = image.ref.partition("@")
    if referrers(repository, digest, PROVENANCE_ARTIFACT):
        return False
    _, locked = env.require_target(target)
    pinned = replace(env, targets={**env.targets, target: replace(locked, image=image, base_image=image.base_image)})
    released = max(lock.require(u.name, fix="helperhub env lock").released_at for u in env.helpers)
    sbom = environment_sbom(pinned, target, image.ref, released).encode()
    envelope = signed(environment_statement(pinned, target, hashlib.sha256(sbom).hexdigest()), key)
    attach(repository, digest, SBOM_ARTIFACT, sbom, SBOM_ARTIFACT, {TITLE: sbom_name(target)})
    attach(repository, digest, PROVENANCE_ARTIFACT, envelope, DSSE_TYPE, {TITLE: f"{target}.provenance.json"})
    report.info(f"{image.tag}: SBOM and provenance signed by {key.public.keyid[:12]}")
    return True
