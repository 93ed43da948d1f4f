"""Source text added to every helper component: the step-start check of the pinned helpers,
and a deterministic archive for the embedded mode. Pure functions, tested as text."""

from __future__ import annotations

import base64
import gzip
import io
import re
import tarfile
from pathlib import Path

CHECK_TEMPLATE = '''

# helperhub: the helpers this step was pinned to, checked before the step runs.
def __helperhub_check(pins_json):
    import importlib
    import importlib.metadata
    import json
    import os
    import re
    import sys

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
        installed = pin["mode"] in ("image", "package")
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
