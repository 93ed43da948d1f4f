"""P6: a step's environment. An unchanged `env build` (the command, interpreter start included: the
image of these inputs is found, nothing pushed); adding one extra package (the build's own work
after `env lock`) against the bare work it wraps, `uv pip install` of the package's file and a
push of one layer of it (the layer, a config and a manifest: what makes it pullable); and the bytes
that change pushes against the package's own layer. The
extra packages are small wheels made here and uploaded into the stack's index (loopback only,
nothing from a public index)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from helperhub.core.progress import Silent
from helperhub.images import registry_api
from helperhub.images.layer import pack_layer, tree_entries
from helperhub.images.oci import IMAGE_TYPES, split_repository
from helperhub.images.registry_api import OCI_TYPES
from helperhub.images.venv_tree import host_uv
from helperhub.lock.closure import rebase_url
from helperhub.lock.lockfile import Lock, load_lock, save_lock
from helperhub.pipelines.env_build import EnvBuildSettings, build_environments
from helperhub.release.publish import publish

from .release_time import _timed, release_env
from .setup import Stack

PAYLOAD = 2 << 20  # bytes of each extra package's wheel
MANIFEST_TYPE = IMAGE_TYPES[1]
CONFIG_TYPE, LAYER_TYPE = OCI_TYPES[registry_api.CONFIG_TYPE], OCI_TYPES[registry_api.LAYER_TYPE]


def wheel(folder: Path, name: str, size: int) -> Path:
    """A valid pure wheel of ``name`` 1.0 with ``size`` bytes of payload, the same bytes every run."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-1.0"
    blocks = (hashlib.sha256(f"{name}:{n}".encode()).digest() for n in range(size // 32 + 1))
    members = {
        f"{module}/__init__.py": b"VERSION = '1.0'\n",
        f"{module}/payload.bin": b"".join(blocks)[:size],  # incompressible, as a binary wheel's files are
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for path, data in members.items()) + f"{dist}.dist-info/RECORD,,\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in [*members.items(), (f"{dist}.dist-info/RECORD", record.encode())]:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            whl.writestr(info, data)
    out = folder / f"{dist}-py3-none-any.whl"
    out.write_bytes(buf.getvalue())
    return out


def _declare(team: Path, st: Stack, packages: list[str]) -> None:
    listed = ", ".join(json.dumps(p) for p in packages)
    (team / "pyproject.toml").write_text(
        f'[project]\nname = "bench-team"\nversion = "0.1.0"\n\n[tool.helperhub]\nindex-url = "{st.index.base}"\n'
        f'oci-registry = "{st.oci}"\n\n[tool.helperhub.environments.bench]\nhelpers = ["tabular-helpers"]\n'
        f'packages = [{listed}]\nmodules = ["src/bench_team"]\n')


def _layers(ref: str) -> dict[str, int]:
    """digest -> size of the layers (and config) of the amd64 image of ``ref``."""
    found = registry_api.get_manifest(ref)
    assert found is not None, ref
    body = json.loads(found[1])
    if found[0] not in IMAGE_TYPES:  # an index: its first platform (amd64)
        repository = ref.partition("@")[0]
        found = registry_api.get_manifest(f"{repository}@{body['manifests'][0]['digest']}")
        assert found is not None
        body = json.loads(found[1])
    return {**{str(layer["digest"]): int(layer["size"]) for layer in body["layers"]},
            str(body["config"]["digest"]): int(body["config"]["size"])}


def _bare(st: Stack, team: Path, filename: str, sha256: str, cache: Path) -> float:
    """What adding the package costs by hand: uv installs its file, one layer of it is pushed."""
    lock = load_lock(team / "pins.json")
    uv = lock.require_tool("uv", "linux/amd64")
    binary = host_uv(cache, uv, rebase_url(uv.url(f"{st.index.base}/packages/-"), st.index.simple_url))
    host, path = split_repository(f"{st.oci}/bench-bare")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        listing = Path(tmp, "requirements.txt")
        listing.write_text(f"{filename.split('-')[0]} @ {st.index.base}/packages/{filename} --hash=sha256:{sha256}\n")
        subprocess.run([str(binary), "pip", "install", "--no-config", "--no-deps", "--no-cache", "--target",
                        f"{tmp}/root", "--python", sys.executable, "--require-hashes", "--no-index", "-r",
                        str(listing)], check=True, capture_output=True)
        layer = pack_layer(tree_entries(Path(tmp, "root")), Path(tmp, "l.tar"), Path(tmp, "l.tar.gz"))
        with Path(tmp, "l.tar.gz").open("rb") as fh:
            registry_api.upload_blob(host, path, layer.digest, fh, layer.size)
        # a push makes the layer pullable: its config and a manifest naming both, as any client pushes
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}).encode()
        registry_api.upload_blob(host, path, registry_api.digest_of(config), config, len(config))
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                    "config": {"mediaType": CONFIG_TYPE, "digest": registry_api.digest_of(config), "size": len(config)},
                    "layers": [{"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size}]}
        registry_api.put_manifest(f"{host}/{path}:{filename.split('-')[0]}", MANIFEST_TYPE,
                                  json.dumps(manifest).encode())
        return time.perf_counter() - start


def measure_environments(st: Stack, repeats: int, log: Any = print) -> dict[str, float]:
    """P6's figures (medians): unchanged build (s); adding a package, one after another (build s,
    bare s, lock s); bytes pushed against the package's own layer."""
    team = st.root.parent / "env-team"
    (team / "src" / "bench_team").mkdir(parents=True)
    (team / "src" / "bench_team" / "__init__.py").write_text("def ready() -> bool:\n    return True\n")
    released = load_lock(st.root / "pins.json")
    save_lock(team / "pins.json", Lock(released.packages, released.platform_tools))
    dists = team.parent / "env-dists"
    dists.mkdir()
    names = [f"bench-extra-{n}" for n in range(repeats + 1)]
    publish(st.index, [wheel(dists, name, PAYLOAD) for name in names])
    cache = team.parent / "env-cache"  # nothing of an earlier run: each new package's layer is made
    env = {**release_env(st), "HUB_CACHE": str(cache)}
    hub = [sys.executable, "-m", "helperhub"]
    _declare(team, st, names[:1])
    _timed([*hub, "env", "lock", "--offline", "--root", str(team)], env)
    warm = _timed([*hub, "env", "build", "--root", str(team)], env)
    noop = statistics.median(_timed([*hub, "env", "build", "--root", str(team)], env) for _ in range(repeats))
    log(f"P6 environment build: first {warm:.1f} s, unchanged {noop:.2f} s")
    rows = []
    for count in range(2, repeats + 2):  # one more package each time
        old = _image(team)
        _declare(team, st, names[:count])
        lock_s = _timed([*hub, "env", "lock", "--offline", "--root", str(team)], env)
        start = time.perf_counter()  # the build's own work, as the bare steps are timed: no interpreter start
        build_environments(EnvBuildSettings(team, st.oci, cache), [], Silent())
        build_s = time.perf_counter() - start
        added = next(f for f in load_lock(team / "pins.json").require_environment("bench").targets["default"].files()
                     if f.name == names[count - 1])
        bare = _bare(st, team, added.filename, added.sha256, cache)
        before, after = _layers(old), _layers(_image(team))
        pushed = sum(size for digest, size in after.items() if digest not in before)
        own = max(size for digest, size in after.items() if digest not in before)  # the new package's layer
        rows.append((lock_s, build_s, bare, pushed, own))
        log(f"P6 adding {names[count - 1]}: env lock {lock_s:.2f} s, env build {build_s:.2f} s, bare uv install "
            f"+ push {bare:.2f} s; pushed {pushed:,} bytes, its own layer {own:,}")
    lock_s, build_s, bare, pushed, own = (statistics.median(column) for column in zip(*rows, strict=True))
    return {"env_noop_build_s": noop, "env_add_build_s": build_s, "env_add_bare_s": bare, "env_add_lock_s": lock_s,
            "env_pushed_bytes": pushed, "env_own_layer_bytes": own}


def _image(team: Path) -> str:
    """The ref of the bench environment's image (the one target of the stack's release)."""
    image = load_lock(team / "pins.json").require_environment("bench").targets["default"].image
    assert image is not None
    return image.ref
