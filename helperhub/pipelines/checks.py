"""Source text added to every helper component: the step-start check of the pinned helpers,
and a deterministic archive for the embedded mode. Pure functions, tested as text."""

from __future__ import annotations

import base64
import gzip
import io
import re
import shlex
import tarfile
from pathlib import Path

# Whether this interpreter is what each pin's target was locked for (Python major.minor and
# platform.machine()): its one-line complaint, or None. Run by the step-start check, and before
# any install (a cp313 closure on Python 3.11 fails in the installer with a less clear message).
# Pins compiled before targets name none and are not checked. (No "python3" word in this text:
# kfp.local's SubprocessRunner rewrites it in the command.)
RUNTIME = '''
def __helperhub_runtime(pins_json):
    import json
    import platform
    import sys

    running = "%d.%d" % sys.version_info[:2]
    machine = platform.machine()
    for pin in json.loads(pins_json):
        if "target" not in pin:  # pins compiled before targets, and an environment's other files
            continue
        targets, name = pin["targets"], pin["target"]
        own = targets[name]
        if own["python"] == running and machine in own["machines"]:
            continue
        where = "Python " + own["python"]
        fixes = []
        if own["python"] != running:
            fixes.append("a " + name + " base image")
        if machine not in own["machines"]:
            where += " on " + " or ".join(own["machines"])
            fixes.append("a node of " + " or ".join(own["machines"]))
        fits = [n for n, t in targets.items() if t["python"] == running and machine in t["machines"]]
        pick = "target " + fits[0] if fits else "a target released for Python " + running + " on " + machine
        return (
            f"helperhub: this step runs Python {running} on {machine}, but {pin['name']} {pin['version']} "
            f"is pinned for target {name} ({where}): pick {pick} or {' on '.join(fixes)}"
        )
    return None
'''

CHECK_TEMPLATE = RUNTIME + '''

# helperhub: the helpers this step was pinned to, checked before the step runs.
def __helperhub_check(pins_json):
    import importlib
    import importlib.metadata
    import json
    import os
    import re
    import sys

    wrong = __helperhub_runtime(pins_json)
    if wrong:
        raise RuntimeError(wrong)

    def canonical(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    # install reports (pip's --report, or written after a uv install, which verified every hash
    # but keeps none in direct_url.json): the image's, kept at build time in its environment, and
    # this step's own install
    recorded = {}
    for path in (os.path.join(sys.prefix, "helperhub-install-report.json"), os.environ.get("HELPERHUB_INSTALL_REPORT")):
        if path and os.path.isfile(path):
            with open(path) as fh:
                for item in json.load(fh).get("install", []):
                    recorded[canonical(item["metadata"]["name"])] = item.get("download_info", {})

    for pin in json.loads(pins_json):
        if "files" in pin:  # another file of the step's environment: as locked for this machine
            import platform

            locked = pin["files"].get(platform.machine())
            if locked is None:
                continue  # the runtime check named the machines the target was locked for
            pin = {**pin, "version": locked[0], "sha256": locked[1]}
        installed = pin["mode"] in ("image", "package") or "files" in pin
        if installed:  # its metadata says, no import needed
            try:
                dist = importlib.metadata.distribution(pin["name"])
                found = dist.version
            except importlib.metadata.PackageNotFoundError:
                found = None
        else:  # working-tree source: only the module knows its version
            found = getattr(importlib.import_module(pin["module"]), "__version__", None)
        if found != pin["version"]:
            raise RuntimeError(
                f"helperhub: {pin['name']} {found} is installed but this step is pinned to "
                f"{pin['version']} ({pin['mode']} mode); re-release or recompile the pipeline"
            )
        if installed:  # the sha256 of the wheel it came from: direct_url.json, else a report
            direct = json.loads(dist.read_text("direct_url.json") or "{}")

            def sha256_of(info):
                archive = info.get("archive_info", {})
                return archive.get("hashes", {}).get("sha256") or archive.get("hash", "").partition("sha256=")[2]

            got = sha256_of(direct) or sha256_of(recorded.get(canonical(pin["name"]), {}))
            if got != pin["sha256"]:
                raise RuntimeError(
                    f"helperhub: {pin['name']} {found} was installed from a wheel with sha256 "
                    f"{got or '(no record)'} but this step is pinned to {pin['sha256']} ({pin['mode']} mode)"
                )


__helperhub_check(__HELPERHUB_PINS__)
'''

ARCHIVE_LINE = re.compile(r"^__KFP_EMBEDDED_ARCHIVE_B64 = '[A-Za-z0-9+/=]*'$", re.MULTILINE)


def check_source(pins_json: str) -> str:
    return CHECK_TEMPLATE.replace("__HELPERHUB_PINS__", repr(pins_json))


def runtime_guard(pins_json: str) -> str:
    """Shell text, put before a step's install: it stops the step with the runtime check's one
    line when this interpreter or machine is not what the pins' target was locked for."""
    return (f"\npython3 - {shlex.quote(pins_json)} <<'HELPERHUB_RUNTIME' || exit 1\n"
            f"import sys\n{RUNTIME.lstrip()}\nwrong = __helperhub_runtime(sys.argv[1])\n"
            "if wrong:\n    sys.exit(wrong)\nHELPERHUB_RUNTIME\n")


def deterministic_archive(folder: Path) -> str:
    """tar.gz (base64) of a folder that depends only on the files' paths and bytes: no mtimes,
    owners or gzip timestamp, so compiling twice gives the same YAML."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = tarfile.TarInfo(f"./{path.relative_to(folder).as_posix()}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(gzip.compress(raw.getvalue(), mtime=0)).decode("ascii")


def replace_archive(source: str, archive_b64: str) -> str:
    if not ARCHIVE_LINE.search(source):
        raise RuntimeError("kfp's embedded archive line was not found; is kfp 2.17 installed?")
    return ARCHIVE_LINE.sub(lambda _m: f"__KFP_EMBEDDED_ARCHIVE_B64 = '{archive_b64}'", source, count=1)
