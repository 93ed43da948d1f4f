"""Verify a pin before it is used: its wheel's provenance on the index and each target's image
provenance and SBOM in the OCI registry, each signed by a key the repository trusts
(``[tool.helperhub.trusted-keys]``: project-name glob -> public key; the releasing checkout also
trusts its own key, ``.hub/signing-key.pem.pub``). ``pins bump`` refuses a pin that fails, ``pins
check --verify`` reports it; each failure is one line naming what failed."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from helperhub.core import defaults
from helperhub.core.errors import HubError, IntegrityError, LockError
from helperhub.core.settings import TRUSTED_KEYS, repository_settings
from helperhub.core.signing import KEY_NAME, PublicKey, parse_public_key, public_path, verify_envelope
from helperhub.images.referrers import PROVENANCE_ARTIFACT, SBOM_ARTIFACT, artifact_document, referrers
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.lockfile import Lock, PackagePin
from helperhub.registry.client import IndexSettings, fetch_document, provenance_url, sbom_url
from helperhub.release.provenance import (
    ENVIRONMENT_BUILD,
    IMAGE_BUILD,
    WHEEL_BUILD,
    Statement,
    parse_statement,
    sbom_name,
)
from helperhub.release.sbom import python_components, target_files

ALL = "*"


@dataclass(frozen=True)
class Trust:
    """Which keys sign which projects: (glob, key) pairs, in the order given."""

    keys: tuple[tuple[str, PublicKey], ...] = ()

    def of(self, project: str) -> dict[str, PublicKey]:
        """keyid -> key of the keys trusted for ``project``."""
        return {k.keyid: k for glob, k in self.keys if fnmatch.fnmatchcase(project, glob)}


def load_trust(root: Path) -> Trust:
    """The keys the repository at ``root`` trusts: its ``[tool.helperhub.trusted-keys]`` and its
    checkout's own release key, when it has made one."""
    table = repository_settings(root).get(TRUSTED_KEYS, {})
    keys = [(glob, parse_public_key(text, root, f"[tool.helperhub.trusted-keys] {glob!r}"))
            for glob, text in table.items()]
    own = public_path(root / defaults.STATE_DIR / KEY_NAME)
    if own.is_file():
        keys.append((ALL, parse_public_key(str(own), None, f"the checkout's own key {own}")))
    return Trust(tuple(keys))


class Unsigned(IntegrityError):
    """A release with no provenance at all (allowed with ``--allow-unsigned``)."""


def verify_pin(pin: PackagePin, trust: Trust) -> None:
    """The pin's wheel and every target's image, each against its signed provenance; the first
    failure raised as one line (``Unsigned`` when there is no provenance)."""
    keys = trust.of(pin.name)
    what = f"{pin.name} {pin.version}"
    if not keys:
        raise IntegrityError(f"{what}: no trusted key for {pin.name}; add the releasing team's public key to "
                             "[tool.helperhub.trusted-keys] (`helperhub keys show` prints it)")
    index = IndexSettings(pin.index_url)
    document = fetch_document(index, provenance_url(pin.url))
    if document is None:
        raise Unsigned(f"{what}: {pin.wheel} has no provenance on the index; pin a signed release, or pass "
                       "--allow-unsigned")
    statement = parse_statement(verify_envelope(document, keys, pin.wheel), pin.wheel)
    _expect(statement, WHEEL_BUILD, pin, None)
    if statement.subjects.get(pin.wheel) != pin.sha256:
        raise IntegrityError(f"{what}: {pin.wheel} has sha256 {pin.sha256} but its provenance signed "
                             f"{statement.subjects.get(pin.wheel, 'no such file')}; do not use it")
    if pin.sdist and statement.subjects.get(pin.sdist) != pin.sdist_sha256:
        raise IntegrityError(f"{what}: {pin.sdist} has sha256 {pin.sdist_sha256} but its provenance signed "
                             f"{statement.subjects.get(pin.sdist, 'no such file')}; do not use it")
    _verify_closure(pin, statement)
    for target, locked in pin.targets.items():
        if locked.image is not None:
            _verify_image(pin, target, keys)


def _verify_closure(pin: PackagePin, statement: Statement) -> None:
    """Every file of every target's closure is one the release signed, with the same sha256: a lock
    whose closure names other files of the index (edited, or resolved anew) is refused."""
    signed = statement.dependencies
    for target, locked in pin.targets.items():
        for platform, files in locked.closure.items():
            for f in files:
                if signed.get(f.filename) != f.sha256:
                    said = f"sha256 {signed[f.filename]}" if f.filename in signed else "no such file"
                    raise IntegrityError(
                        f"{pin.name} {pin.version} (target {target}, {platform}): the lock's closure has {f.filename} "
                        f"sha256 {f.sha256} but the release signed {said}; `helperhub pins bump {pin.name} "
                        f"{pin.version}` pins what was released")


def _expect(statement: Statement, build_type: str, pin: PackagePin, target: str | None) -> None:
    """The statement is about this release (and target): a signed statement of another one is refused."""
    said = statement.parameters
    claimed = (said.get("package"), said.get("version"), said.get("target") if target else None)
    if statement.build_type != build_type or claimed != (pin.name, pin.version, target):
        about = " ".join(str(v) for v in claimed if v)
        raise IntegrityError(f"{pin.name} {pin.version}{f' (target {target})' if target else ''}: its provenance is "
                             f"about {about or 'something else'}; the lock names another release's artifact")


def _verify_image(pin: PackagePin, target: str, keys: dict[str, PublicKey]) -> None:
    locked = pin.require_target(target)
    assert locked.image is not None
    repository, _, digest = locked.image.ref.partition("@")
    where = f"{pin.name} {pin.version} (target {target})"
    attached = referrers(repository, digest, PROVENANCE_ARTIFACT)
    if not attached:
        raise Unsigned(f"{where}: image {locked.image.ref} has no provenance attached (re-pushed or never signed); "
                       "do not use it, or pass --allow-unsigned")
    failures: list[str] = []
    for referrer in attached:
        try:
            payload = verify_envelope(artifact_document(repository, referrer.digest, digest), keys, locked.image.ref)
            statement = parse_statement(payload, locked.image.ref)
            _expect(statement, IMAGE_BUILD, pin, target)
        except HubError as exc:
            failures.append(str(exc))
            continue
        wanted = {repository: digest, **{f"{repository} {p}": d for p, d in locked.image.platforms.items()}}
        for name, want in wanted.items():
            if statement.subjects.get(name) != want.removeprefix("sha256:"):
                raise IntegrityError(f"{where}: image {name} is {want} but its provenance signed "
                                     f"{statement.subjects.get(name, 'no such image')}")
        if statement.dependencies.get(pin.wheel) != pin.sha256:
            raise IntegrityError(f"{where}: its image was built from another {pin.wheel} than the lock pins")
        _verify_sbom(pin, target, repository, digest, statement.byproducts.get(sbom_name(target), ""))
        return
    raise IntegrityError(failures[0])


def _verify_sbom(pin: PackagePin, target: str, repository: str, digest: str, signed: str) -> None:
    """An attached SBOM with the signed digest, listing exactly the target's locked closure."""
    where = f"{pin.name} {pin.version} (target {target})"
    for referrer in referrers(repository, digest, SBOM_ARTIFACT):
        document = artifact_document(repository, referrer.digest, digest)
        if hashlib.sha256(document).hexdigest() != signed:
            continue
        listed = python_components(document)
        locked = {name: f.sha256 for name, (f, _) in target_files(pin, target).items()}
        if listed != locked:
            raise IntegrityError(f"{where}: its signed SBOM lists other Python files than the lock's closure")
        return
    raise IntegrityError(f"{where}: no SBOM attached to {repository}@{digest} has the digest its provenance signed")


def verify_lock(lock: Lock, trust: Trust, *, allow_unsigned: bool = False) -> Iterator[tuple[str, str]]:
    """(helper or environment, problem) for every pin and environment image of ``lock`` that fails
    verification."""
    checks: list[tuple[str, Callable[[], None]]] = [
        (name, partial(verify_pin, pin, trust)) for name, pin in sorted(lock.packages.items())]
    checks += [(f"environment {name}", partial(verify_environment, env, trust))
               for name, env in sorted(lock.environments.items())]
    for name, check in checks:
        try:
            check()
        except Unsigned as exc:
            if not allow_unsigned:
                yield name, str(exc)
        except HubError as exc:
            yield name, str(exc)


def verify_environment(env: EnvironmentPin, trust: Trust) -> None:
    """Each built image of the environment against its signed provenance: the image and each
    platform's manifest by digest, and every locked file and module as the lock names them."""
    keys = trust.of(env.name)
    for target, locked in env.targets.items():
        if locked.image is None:
            continue
        where = f"environment {env.name} (target {target})"
        if not keys:
            raise IntegrityError(f"{where}: no trusted key for {env.name}; the team that built it trusts its own "
                                 "checkout's key, or add it to [tool.helperhub.trusted-keys]")
        repository, _, digest = locked.image.ref.partition("@")
        attached = referrers(repository, digest, PROVENANCE_ARTIFACT)
        if not attached:
            raise Unsigned(f"{where}: image {locked.image.ref} has no provenance attached; build it with "
                           "`helperhub env build`, or pass --allow-unsigned")
        payload = verify_envelope(artifact_document(repository, attached[0].digest, digest), keys, locked.image.ref)
        statement = parse_statement(payload, locked.image.ref)
        said = statement.parameters
        if statement.build_type != ENVIRONMENT_BUILD or (said.get("environment"), said.get("target")) != (
                env.name, target):
            raise IntegrityError(f"{where}: its provenance is about another image; the lock names another build")
        wanted = {repository: digest, **{f"{repository} {p}": d for p, d in locked.image.platforms.items()}}
        wanted |= {f.filename: f.sha256 for files in locked.closure.values() for f in files}
        wanted |= {m.name: m.source_sha256 for m in env.modules}
        signed = {**statement.subjects, **statement.dependencies}
        for name, want in sorted(wanted.items()):
            if signed.get(name) != want.removeprefix("sha256:"):
                raise IntegrityError(f"{where}: the lock names {name} {want} but its provenance signed "
                                     f"{signed.get(name, 'no such thing')}; build it again (`helperhub env build`)")


def pin_sbom(lock: Lock, name: str, target: str | None = None) -> bytes:
    """The SBOM of the pin of ``name`` for ``target`` (None: its default), as the index serves it,
    else as attached to its image."""
    pin = lock.require(name, fix=f"helperhub pins bump {name} <version>")
    chosen = target or pin.default_target
    locked = pin.require_target(chosen)
    index = IndexSettings(pin.index_url)
    document = fetch_document(index, sbom_url(index, pin.name, pin.version, chosen))
    if document is None and locked.image is not None:
        repository, _, digest = locked.image.ref.partition("@")
        found = referrers(repository, digest, SBOM_ARTIFACT)
        document = artifact_document(repository, found[0].digest, digest) if found else None
    if document is None:
        raise LockError(f"{pin.name} {pin.version} has no SBOM for target {chosen}; it was released without one: "
                        "re-release it with this helperhub")
    return document


def bump_verifier(root: Path, *, allow_unsigned: bool = False) -> Callable[[PackagePin], None] | None:
    """What `pins bump` verifies a new pin with in the repository at ``root``: None when it trusts
    no key at all (the bump says so); else each pin verified, an unsigned one allowed only when
    ``allow_unsigned``."""
    trust = load_trust(root)
    if not trust.keys:
        return None

    def verify(pin: PackagePin) -> None:
        try:
            verify_pin(pin, trust)
        except Unsigned:
            if not allow_unsigned:
                raise

    return verify
