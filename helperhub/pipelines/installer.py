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
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from helperhub.core import defaults
from helperhub.core.uv import BOOTSTRAP, RECORD
from helperhub.lock.closure import LockedFile

REPORT_ENV = "HELPERHUB_INSTALL_REPORT"

def requirement_lines(files: Sequence[tuple[str, LockedFile]]) -> list[str]:
    """``<requirement> --hash=sha256:<hex>`` per file: uv's --require-hashes accepts nothing else."""
    return [f"{req} --hash=sha256:{f.sha256}" for req, f in files]


def uv_script(uv: LockedFile, uv_url: str, files: Sequence[tuple[str, LockedFile]], *,
              index_url: str | None, reinstall: Sequence[str]) -> str:
    """The shell command that installs ``files`` (requirement text, locked file) with uv, then runs
    the step (``"$0" "$@"``, as KFP's own install command does).

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
    wanted = f"uv {uv.version}"
    fetch = " ".join(shlex.quote(a) for a in (uv_url, uv.sha256, uv.version))
    requirements = "\n".join(requirement_lines(files))
    return f"""
set -e
helperhub_tmp="$(mktemp -d)"
for helperhub_var in $(env | sed -n 's/^\\(UV_[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset "$helperhub_var"; done
helperhub_uv=uv
case "$(uv --version 2>/dev/null)" in
  {shlex.quote(wanted)}|{shlex.quote(wanted)}" "*) ;;
  *) python3 - {fetch} "$helperhub_tmp" <<'HELPERHUB_BOOTSTRAP'
{BOOTSTRAP}HELPERHUB_BOOTSTRAP
     helperhub_uv="$helperhub_tmp/uv" ;;
esac
cat > "$helperhub_tmp/requirements.txt" <<'HELPERHUB_REQUIREMENTS'
{requirements}
HELPERHUB_REQUIREMENTS
{downloads} "$helperhub_uv" {install} "$helperhub_tmp/requirements.txt" \\
  --cache-dir "$helperhub_tmp/cache" --python "$(command -v python3)"
(nice rm -rf "$helperhub_tmp/cache" "$helperhub_tmp/uv" >/dev/null 2>&1 &)
{REPORT_ENV}="$helperhub_tmp/install-report.json"
export {REPORT_ENV}
python3 - "${REPORT_ENV}" "$helperhub_tmp/requirements.txt" <<'HELPERHUB_RECORD'
{RECORD}HELPERHUB_RECORD
"$0" "$@"
"""
