"""Upload files to the index idempotently: pypiserver answers 400 to any re-upload, so what is
already there is decided here, by file name and sha256, before twine runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from helperhub.core.errors import ConfigError, IntegrityError, OwnershipError, RegistryError
from helperhub.core.fs import sha256_file
from helperhub.core.tools import clean_pip_env, run_tool
from helperhub.registry.client import IndexSettings, projects_files, verify_served, wait_writable


def dist_project(filename: str) -> str:
    if filename.endswith(".whl"):
        return canonicalize_name(parse_wheel_filename(filename)[0])
    return canonicalize_name(parse_sdist_filename(filename)[0])


@dataclass
class PublishPlan:
    upload: list[Path] = field(default_factory=list)
    present: list[Path] = field(default_factory=list)
    conflicts: list[tuple[Path, str, str]] = field(default_factory=list)  # file, local, index


def plan_publish(settings: IndexSettings, files: list[Path]) -> tuple[PublishPlan, dict[str, str]]:
    """Sort files into new / already there with the same bytes / there with other bytes."""
    plan, hashes = PublishPlan(), {}
    listed = projects_files(settings, {dist_project(path.name) for path in files})
    for path in files:
        hashes[path.name] = local = sha256_file(path)
        there = listed[dist_project(path.name)].get(path.name)
        if there is None:
            plan.upload.append(path)
        elif there.sha256 == local:
            plan.present.append(path)
        else:
            plan.conflicts.append((path, local, there.sha256))
    return plan, hashes


FORBIDDEN = "Forbidden"  # the reason phrase of a 403: the index names the project's owners after it
NO_ROOM = "Insufficient Storage"  # of a 507: the index says how much room its package volume has


def twine_upload(settings: IndexSettings, files: list[Path]) -> None:
    if not settings.username or not settings.password:
        raise ConfigError(
            f"no upload credentials for {settings.base}; set HUB_INDEX_USER and HUB_INDEX_PASSWORD "
            "(or HUB_INDEX_PASSWORD_FILE)"
        )
    # credentials only as given here; TWINE_CERT (a CA bundle, no secret) still reaches twine
    cert = {"TWINE_CERT": os.environ["TWINE_CERT"]} if os.environ.get("TWINE_CERT") else {}
    # COLUMNS: twine's messages (the registry's reason for a refusal) on one line, not wrapped
    env = clean_pip_env({**cert, "TWINE_USERNAME": settings.username, "TWINE_PASSWORD": settings.password,
                         "COLUMNS": "400"})
    try:
        run_tool(
            ["twine", "upload", "--non-interactive", "--disable-progress-bar",
             "--repository-url", settings.upload_url, *map(str, files)],
            error=RegistryError, what=f"uploading to {settings.base}", env=env,
        )
    except RegistryError as exc:
        if NO_ROOM in str(exc):
            said = str(exc).rpartition(NO_ROOM)[2].strip(" :")
            raise RegistryError(f"the index at {settings.base} has no room for the upload: {said}") from None
        if FORBIDDEN not in str(exc):
            raise
        said = str(exc).rpartition(FORBIDDEN)[2].strip(" :")
        raise OwnershipError(
            f"the index at {settings.base} refused the upload of {settings.username}: {said}"
            if said else f"the index at {settings.base} refused the upload: the project belongs to another "
            "user; ask one of its owners to release it, or to add you to the registry's owners file"
        ) from None


def refuse_conflicts(plan: PublishPlan) -> None:
    """A file name the registry already holds with other bytes stops everything: installers
    trust the name and the registry's hash, so one of the two copies is not what it claims."""
    if plan.conflicts:
        path, local, there = plan.conflicts[0]
        raise IntegrityError(
            f"{path.name} is already in the registry with sha256 {there}, but this build has {local}; "
            "files never change once in the registry: bump the version of a helper, and for a mirrored "
            "wheel find out which copy is genuine before removing the other"
        )


def publish(settings: IndexSettings, files: list[Path]) -> PublishPlan:
    """Upload what is missing, skip identical files, read every upload back and verify it.

    A file already there with other bytes stops everything before any upload, for the project's
    own releases and mirrored third-party wheels alike."""
    plan, hashes = plan_publish(settings, files)
    refuse_conflicts(plan)
    pending = plan.upload
    for attempt in range(3):
        if not pending:
            break
        wait_writable(settings)  # an index catching up after a start answers uploads 503
        try:
            twine_upload(settings, pending)
            break
        except OwnershipError:
            raise  # the same answer on every attempt
        except RegistryError:
            # A concurrent release may have uploaded some of the same bytes first: that is
            # success for those files; upload what is still missing.
            again, _ = plan_publish(settings, pending)
            refuse_conflicts(again)
            if again.upload == pending or attempt == 2:
                raise  # no progress: a real failure (credentials, a refused file, the network)
            pending = again.upload
    pages = projects_files(settings, {dist_project(p.name) for p in plan.upload})
    served = {f: listed for files in pages.values() for f, listed in files.items()}
    for path in plan.upload:
        if path.name not in served:
            raise RegistryError(f"{path.name} was uploaded but the index does not list it")
        verify_served(settings, served[path.name], hashes[path.name])
    return plan
