"""The two small programs that come with every uv install of the project (a step's, an image
build's): the bootstrap of uv itself from the private index, and the record of what uv installed.
Plain text, run by the target's own Python: nothing of helperhub is installed there."""

from __future__ import annotations

import hashlib

# Fetch the uv wheel, check its sha256, unpack the binary: no pip needed, one download. (The
# word "python3" must not appear: kfp.local's SubprocessRunner rewrites it in the command.)
BOOTSTRAP = """\
import hashlib, io, os, sys, urllib.request, zipfile
url, sha256, version, dest = sys.argv[1:5]
try:
    with urllib.request.urlopen(url, timeout=120) as resp:
        data = resp.read()
except Exception as exc:
    sys.exit(f"helperhub: cannot get uv {version} from {url} ({exc}); release into this index with `make release`")
got = hashlib.sha256(data).hexdigest()
if got != sha256:
    sys.exit(f"helperhub: uv {version} from {url} has sha256 {got}, the lock pins {sha256}")
with zipfile.ZipFile(io.BytesIO(data)) as whl:
    member = next(n for n in whl.namelist() if n.endswith(".data/scripts/uv"))
    with open(os.path.join(dest, "uv"), "wb") as fh:
        fh.write(whl.read(member))
os.chmod(os.path.join(dest, "uv"), 0o755)
"""

# uv verified every hash but keeps none in direct_url.json: record them for the step-start check,
# in the shape of pip's install report. Reads requirement lines with --hash=sha256: or direct URL
# words with #sha256=.
RECORD = """\
import json, re, sys
out, lines = sys.argv[1], open(sys.argv[2]).read().split("\\n")
items = []
for line in filter(None, lines):
    if " --hash=sha256:" in line:  # a requirements line
        req, _, digest = line.partition(" --hash=sha256:")
    else:  # a direct URL word, name@url#sha256=...
        req, _, digest = line.rpartition("#sha256=")
    name = re.split(r"[ =@\\[]", req, maxsplit=1)[0]
    items.append({"metadata": {"name": name}, "download_info": {"archive_info": {"hashes": {"sha256": digest}}}})
with open(out, "w") as fh:
    json.dump({"install": items}, fh)
"""


def programs_sha256() -> str:
    """The identity of both programs (part of an image recipe's identity)."""
    return hashlib.sha256((BOOTSTRAP + RECORD).encode()).hexdigest()
