"""The embedded OCI registry: Debian's ``docker-registry`` (distribution v2) as a local process,
storing under the checkout's git-ignored state folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from helperhub.core.errors import EngineError
from helperhub.core.fs import atomic_write_text
from helperhub.images.oci import registry_answers
from helperhub.stack.background import start_background

BINARY = "docker-registry"


def registry_config(addr: str, storage: Path) -> str:
    return (
        "version: 0.1\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        "  delete:\n    enabled: false\n"
        f"http:\n  addr: {addr}\n"
    )


def ensure_oci_registry(addr: str, state: Path, timeout: float = 15.0) -> bool:
    """True when a registry answers at ``addr`` (starting the local one if it can)."""
    if registry_answers(addr):
        return True
    binary = shutil.which(BINARY)
    if binary is None:
        return False
    state.mkdir(parents=True, exist_ok=True)
    config = state / "oci-registry.yml"
    atomic_write_text(config, registry_config(addr, (state / "oci").resolve()))
    log, pidfile = state / "oci-registry.log", state / "oci-registry.pid"
    if start_background([binary, "serve", str(config)], log, pidfile, lambda: registry_answers(addr), timeout):
        return True
    raise EngineError(
        f"the local OCI registry did not start on {addr} (log {state / 'oci-registry.log'}); "
        "free the port or set HUB_OCI_REGISTRY"
    )
