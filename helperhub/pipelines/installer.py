"""The uv install command of package-mode and working-tree steps, rendered as text (tested exact).

KFP's own path is ``pip install`` of ``packages_to_install``; with ``installer="uv"`` the factory
gives KFP no packages and puts this command in front of the step instead: uv is taken from the
base image when it is the pinned version, else bootstrapped from the private index (the wheel's
sha256 checked), then installs exactly the locked files, every hash required, nothing resolved.

The cost of a step's install is in creating files (a closure of numpy, scipy, pandas, scikit-learn
and kfp is ~9,000 files, 300 MB), so uv unpacks each wheel once, into a fresh cache of its own
beside the step's temp files (the same filesystem as the environment in a container), and
hard-links the files from there: one file created per installed file, where a copy made two and
``--no-cache`` then deleted the first ones again before the step could start. The cache is
removed in the background while the step runs (a host run keeps nothing of it).

A target may have several platforms: the command carries each one's locked files and uv, and
installs those of the machine it runs on (``uname -m``, what ``platform.machine()`` says there).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from helperhub.core import defaults
from helperhub.core.uv import BOOTSTRAP, RECORD
from helperhub.lock.closure import LockedFile

REPORT_ENV = "HELPERHUB_INSTALL_REPORT"


@dataclass(frozen=True)
class MachineInstall:
    """What a step installs on one machine (``x86_64``): its uv (file and URL) and its locked
    files as (requirement text, locked file)."""

    machine: str
    uv: LockedFile
    uv_url: str
    files: tuple[tuple[str, LockedFile], ...]


def requirement_lines(files: Sequence[tuple[str, LockedFile]]) -> list[str]:
    """``<requirement> --hash=sha256:<hex>`` per file: uv's --require-hashes accepts nothing else."""
    return [f"{req} --hash=sha256:{f.sha256}" for req, f in files]


def unsupported_machine(machines: Sequence[str], what: str) -> str:
    """The shell line that stops a step on a machine ``what`` (a target of some helpers) has no
    files for, naming those it has; ``$helperhub_machine`` holds ``uname -m``."""
    rest = (f", but {what} has files for {' and '.join(machines)} only: "
            "run it on such a node, or release it for this machine")
    return f'echo "helperhub: this step runs on $helperhub_machine"{shlex.quote(rest)} >&2; exit 1'


def marked_requirements(per_machine: Sequence[tuple[str, Sequence[tuple[str, LockedFile]]]]) -> list[str]:
    """One requirement list for every machine (pip's install, which KFP renders and cannot
    branch): a file locked on every machine as is, any other with ``; platform_machine == ...``,
    so that pip skips the files of the other machines. One machine: its requirements unchanged."""
    machines = [m for m, _ in per_machine]
    on: dict[tuple[str, str], list[str]] = {}
    text: dict[tuple[str, str], tuple[str, str]] = {}
    for machine, files in per_machine:
        for req, f in files:
            key = (f.filename, f.sha256)
            on.setdefault(key, []).append(machine)
            text[key] = (f.name, req)
    out = []
    for key in sorted(on, key=lambda k: (text[k][0], machines.index(on[k][0]), k)):
        req = text[key][1]
        if on[key] != machines:
            req += " ; " + " or ".join(f'platform_machine == "{m}"' for m in on[key])
        out.append(req)
    return out


def uv_script(installs: Sequence[MachineInstall], *, index_url: str | None, reinstall: Sequence[str],
              what: str) -> str:
    """The shell command that installs, on the machine it runs on, that machine's files of
    ``installs`` with its uv, then runs the step (``"$0" "$@"``, as KFP's own install command does);
    on any other machine it stops with one line naming those ``what`` (the target) has.

    ``index_url`` None: every requirement is a direct URL (``--no-index``); else ``name==version``
    from that index. ``reinstall``: the helpers, always installed from the pinned wheel even when
    the base image has a distribution of that name."""
    where = ["--no-index"] if index_url is None else ["--index-url", index_url]
    again = [arg for name in reinstall for arg in ("--reinstall-package", name)]
    install = shlex.join([
        "pip", "install", "--no-config", "--no-deps", "--require-hashes", "--break-system-packages",
        "--link-mode=hardlink", "--quiet", *where, *again, "-r",
    ])
    downloads = f"UV_CONCURRENT_DOWNLOADS={defaults.UV_CONCURRENT_DOWNLOADS}"
    branches = "".join(_machine_branch(i) for i in installs)
    refuse = unsupported_machine([i.machine for i in installs], what)
    return f"""
set -e
helperhub_tmp="$(mktemp -d)"
for helperhub_var in $(env | sed -n 's/^\\(UV_[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset "$helperhub_var"; done
helperhub_machine="$(uname -m)"
case "$helperhub_machine" in
{branches}  *) {refuse} ;;
esac
helperhub_uv=uv
case "$(uv --version 2>/dev/null)" in
  "uv $helperhub_uv_version"|"uv $helperhub_uv_version "*) ;;
  *) python3 - "$helperhub_uv_url" "$helperhub_uv_sha" "$helperhub_uv_version" "$helperhub_tmp" <<'HELPERHUB_BOOTSTRAP'
{BOOTSTRAP}HELPERHUB_BOOTSTRAP
     helperhub_uv="$helperhub_tmp/uv" ;;
esac
{downloads} "$helperhub_uv" {install} "$helperhub_tmp/requirements.txt" \\
  --cache-dir "$helperhub_tmp/cache" --python "$(command -v python3)"
(nice rm -rf "$helperhub_tmp/cache" "$helperhub_tmp/uv" >/dev/null 2>&1 &)
{REPORT_ENV}="$helperhub_tmp/install-report.json"
export {REPORT_ENV}
python3 - "${REPORT_ENV}" "$helperhub_tmp/requirements.txt" <<'HELPERHUB_RECORD'
{RECORD}HELPERHUB_RECORD
"$0" "$@"
"""


def _machine_branch(install: MachineInstall) -> str:
    """The ``case`` branch of one machine: its uv and its requirements file."""
    uv = install.uv
    requirements = "\n".join(requirement_lines(install.files))
    return (
        f"  {install.machine})\n"
        f"    helperhub_uv_url={shlex.quote(install.uv_url)} helperhub_uv_sha={uv.sha256} "
        f"helperhub_uv_version={shlex.quote(uv.version)}\n"
        f"    cat > \"$helperhub_tmp/requirements.txt\" <<'HELPERHUB_REQUIREMENTS'\n"
        f"{requirements}\nHELPERHUB_REQUIREMENTS\n"
        "    ;;\n"
    )
