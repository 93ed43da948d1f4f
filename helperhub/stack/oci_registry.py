"""The local OCI registry: Debian's ``docker-registry`` (distribution v2) as a local process,
storing under a state folder (the checkout's git-ignored ``.hub``, or ``make engine``'s). It
listens on loopback only and allows deletes by digest (retention's images); its blob garbage
collection (``collect_blobs``, ``make oci-gc``) runs while it serves read-only, so that no push
can land between the mark and the sweep."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.errors import EngineError
from helperhub.core.fs import atomic_write_text
from helperhub.images.oci import registry_answers
from helperhub.stack.background import running_pid, start_background, stop_background

BINARY = "docker-registry"
CONFIG, READ_ONLY_CONFIG = "oci-registry.yml", "oci-registry.readonly.yml"
LOG, PIDFILE, STORAGE = "oci-registry.log", "oci-registry.pid", "oci"
GC_TIMEOUT = 600  # seconds for one garbage-collect run


def registry_config(addr: str, storage: Path, *, delete: bool = True) -> str:
    """The registry's configuration: ``addr``, ``storage``; deletes by digest allowed on loopback
    unless ``delete`` is False."""
    delete = delete and addr.startswith(("127.", "localhost:"))
    return (
        "version: 0.1\n"
        "storage:\n"
        f"  filesystem:\n    rootdirectory: {storage}\n"
        f"  delete:\n    enabled: {'true' if delete else 'false'}\n"
        f"http:\n  addr: {addr}\n"
    )


def read_only_config(config: str) -> str:
    """The same configuration in maintenance mode: reads are served, every write answers 405."""
    if "\nstorage:\n" not in config:
        raise EngineError("the OCI registry's configuration has no storage: section; it is not one this tool wrote")
    return config.replace("\nstorage:\n", "\nstorage:\n  maintenance:\n    readonly:\n      enabled: true\n", 1)


def ensure_oci_registry(addr: str, state: Path, timeout: float = 15.0) -> bool:
    """True when a registry answers at ``addr`` (starting the local one if it can)."""
    if registry_answers(addr):
        return True
    binary = shutil.which(BINARY)
    if binary is None:
        return False
    state.mkdir(parents=True, exist_ok=True)
    config = state / CONFIG
    atomic_write_text(config, registry_config(addr, (state / STORAGE).resolve()))
    if _serve(binary, state, config, addr, timeout):
        return True
    raise EngineError(
        f"the local OCI registry did not start on {addr} (log {state / 'oci-registry.log'}); "
        "free the port or set HUB_OCI_REGISTRY"
    )


def _serve(binary: str, state: Path, config: Path, addr: str, timeout: float) -> bool:
    return start_background([binary, "serve", str(config)], state / LOG, state / PIDFILE,
                            lambda: registry_answers(addr), timeout)


@dataclass(frozen=True)
class BlobCollection:
    """Bytes the registry's storage held before and after a garbage collection."""

    before: int
    after: int


def storage_bytes(storage: Path) -> int:
    return sum(p.stat().st_size for p in storage.rglob("*") if p.is_file() and not p.is_symlink())


def collect_blobs(state: Path, addr: str, timeout: float = 15.0) -> BlobCollection:
    """Delete the layers no manifest references any more: the local registry of ``state`` is
    restarted read-only (pulls go on, pushes are refused), ``docker-registry garbage-collect`` runs
    on its storage, and it is restarted as before. A registry that was not running is collected
    and left stopped."""
    config, pidfile = state / CONFIG, state / PIDFILE
    binary = shutil.which(BINARY)
    if binary is None or not config.is_file():
        raise EngineError(f"no local OCI registry is configured in {state} ({config} is missing or "
                          f"{BINARY} is not installed); give --state the folder that holds {CONFIG}")
    text = config.read_text(encoding="utf-8")
    storage = Path(next((line.split(":", 1)[1].strip() for line in text.splitlines()
                         if line.strip().startswith("rootdirectory:")), str(state / STORAGE)))
    was_running = running_pid(pidfile) is not None
    if not was_running and registry_answers(addr):
        raise EngineError(f"the OCI registry at {addr} was not started from {state}; collect its garbage "
                          "where it was started, or stop it first")
    before = storage_bytes(storage)
    read_only = state / READ_ONLY_CONFIG
    if was_running:
        atomic_write_text(read_only, read_only_config(text))
        stop_background(pidfile)
        if not _serve(binary, state, read_only, addr, timeout):
            raise EngineError(f"the OCI registry did not restart read-only on {addr} (log {state / LOG}); "
                              "start it again with `make engine`")
    try:
        done = subprocess.run([binary, "garbage-collect", str(config)], capture_output=True, text=True,
                              timeout=GC_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise EngineError(f"{BINARY} garbage-collect took over {GC_TIMEOUT} s and was stopped; "
                          "the registry serves again as before: run it again") from None
    finally:
        if was_running:
            stop_background(pidfile)
            if not _serve(binary, state, config, addr, timeout):
                raise EngineError(f"the OCI registry did not restart on {addr} after its garbage collection "
                                  f"(log {state / LOG}); start it again with `make engine`") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EngineError(f"{BINARY} garbage-collect failed ({tail[0]}); the registry serves again as before")
    return BlobCollection(before, storage_bytes(storage))
