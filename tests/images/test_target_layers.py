"""The pure parts of target images: layer entries and bytes, account lines, venv files, image
config, manifest and index documents, labels. Exact text, no engine."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from helperhub.core.errors import ConfigError, EngineError
from helperhub.core.targets import TargetFacts
from helperhub.images import registry_api
from helperhub.images.context import expected_labels
from helperhub.images.foreign import python_release
from helperhub.images.layer import (
    Entry,
    Layer,
    account_lines,
    image_config,
    image_manifest,
    pack_layer,
    pyvenv_cfg,
    tree_entries,
    venv_env,
    write_tar,
)
from helperhub.images.target_context import (
    arch,
    platform_wheel,
    release_labels,
    target_closure_sha256,
    target_labels,
    target_recipe_sha256,
)
from helperhub.images.venv_tree import BasePython, fix_scripts, python_platform, venv_files
from helperhub.lock.closure import LockedFile, closure_sha256
from helperhub.lock.lockfile import PackagePin
from helperhub.lock.target_pins import TargetPin
from tests.conftest import REPO

AMD64, ARM64 = "linux/amd64", "linux/arm64"
SHA = "a" * 64
LAYER = Layer("sha256:" + "d" * 64, "sha256:" + "e" * 64, 1234)


def test_account_lines_add_the_helper_account_as_the_dockerfile_does() -> None:
    passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    group = "root:x:0:\nnogroup:x:65534:"  # no final newline
    assert account_lines(passwd, group, "10001:10001") == (
        passwd + "helper:x:10001:10001::/nonexistent:/usr/sbin/nologin\n",
        "root:x:0:\nnogroup:x:65534:\nhelper:x:10001:\n",
    )
    # ids the base has already: the Dockerfile's getent finds them and adds nothing for them
    assert account_lines(passwd, group, "65534:65534") is None
    assert account_lines(passwd, group, "10001:65534") == (
        passwd + "helper:x:10001:65534::/nonexistent:/usr/sbin/nologin\n", group)
    assert account_lines(passwd, group, "root") is None
    with pytest.raises(ConfigError, match="named helper with another id"):
        account_lines(passwd + "helper:x:999:999::/:/bin/sh\n", group, "10001:10001")


def test_pyvenv_cfg_and_env_are_what_the_venv_and_the_dockerfile_write() -> None:
    assert pyvenv_cfg("/usr/local", "3.13.5", "/usr/local/bin/python3.13") == (
        "home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.13.5\n"
        "executable = /usr/local/bin/python3.13\n"
        "command = /usr/local/bin/python3 -m venv --without-pip /opt/helpers\n"
    )
    assert venv_env(["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]) == [
        "PATH=/opt/helpers/bin:/usr/bin:/bin", "LANG=C.UTF-8", "VIRTUAL_ENV=/opt/helpers"]
    assert venv_env(["VIRTUAL_ENV=/x"]) == ["VIRTUAL_ENV=/opt/helpers", "PATH=/opt/helpers/bin:"]


def test_image_config_is_the_base_config_with_the_layer_env_labels_and_user() -> None:
    base = {
        "architecture": "arm64", "variant": "v8", "os": "linux", "created": "2026-12-02T03:10:16Z",
        "container_config": {"Cmd": ["/bin/sh"]},
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["python3"], "Labels": {"base": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
        "history": [{"created_by": "base"}],
    }
    got = image_config(base, LAYER, {"io.helperhub.package": "p"}, "10001:10001", "helperhub: p")
    assert got == (
        b'{"architecture":"arm64","config":{"Cmd":["python3"],"Env":["PATH=/opt/helpers/bin:/usr/bin",'
        b'"VIRTUAL_ENV=/opt/helpers"],"Labels":{"base":"yes","io.helperhub.package":"p"},"User":"10001:10001"},'
        b'"created":"2026-12-02T03:10:16Z","history":[{"created_by":"base"},{"created":"2026-12-02T03:10:16Z",'
        b'"created_by":"helperhub: p"}],"os":"linux","rootfs":{"diff_ids":["sha256:' + b"1" * 64
        + b'","sha256:' + b"d" * 64 + b'"],"type":"layers"},"variant":"v8"}'
    )
    assert base["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]}  # the base is not changed


def test_image_manifest_appends_the_layer_in_the_base_manifest_type() -> None:
    base: dict[str, Any] = {"schemaVersion": 2, "mediaType": registry_api.IMAGE_TYPES[0],
            "config": {"mediaType": registry_api.CONFIG_TYPE, "size": 1, "digest": "sha256:" + "0" * 64},
            "layers": [{"mediaType": registry_api.LAYER_TYPE, "size": 9, "digest": "sha256:" + "9" * 64}]}
    media_type, body = image_manifest(registry_api.IMAGE_TYPES[0], base, b"{}", LAYER)
    assert media_type == registry_api.IMAGE_TYPES[0]
    assert json.loads(body) == {
        "schemaVersion": 2, "mediaType": registry_api.IMAGE_TYPES[0],
        "config": {"mediaType": registry_api.CONFIG_TYPE, "size": 2,
                   "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()},
        "layers": [base["layers"][0], {"mediaType": registry_api.LAYER_TYPE, "size": 1234, "digest": LAYER.digest}],
    }
    oci = {**base, "mediaType": registry_api.IMAGE_TYPES[1]}
    _, body = image_manifest(registry_api.IMAGE_TYPES[1], oci, b"{}", LAYER)
    assert json.loads(body)["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert json.loads(body)["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    with pytest.raises(ConfigError, match="not a single-platform image"):
        image_manifest(registry_api.LIST_TYPE, base, b"{}", LAYER)


def test_index_document_is_a_docker_manifest_list() -> None:
    entry = {"mediaType": registry_api.IMAGE_TYPES[0], "size": 5, "digest": "sha256:" + "5" * 64,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    assert registry_api.index_document([entry]).decode() == (
        '{\n  "schemaVersion": 2,\n  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",\n'
        '  "manifests": [\n    {\n      "mediaType": "application/vnd.docker.distribution.manifest.v2+json",\n'
        '      "size": 5,\n      "digest": "sha256:' + "5" * 64 + '",\n      "platform": {\n'
        '        "architecture": "arm64",\n        "os": "linux",\n        "variant": "v8"\n      }\n    }\n  ]\n}'
    )
    assert registry_api.split("h:5000/a/b@sha256:" + SHA) == ("h:5000", "a/b", "sha256:" + SHA)
    assert registry_api.split("h:5000/a/b:1.0-py311") == ("h:5000", "a/b", "1.0-py311")
    with pytest.raises(registry_api.Failure):
        registry_api.split("h:5000/a")


def test_a_layer_is_sorted_root_owned_timeless_and_the_same_every_time(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "opt/helpers/bin").mkdir(parents=True)
    (root / "opt/helpers/bin/tool").write_text("#!/bin/sh\n")
    (root / "opt/helpers/bin/tool").chmod(0o775)
    (root / "opt/helpers/a.txt").write_text("a")
    (root / "opt/helpers/a.txt").chmod(0o600)
    os.symlink("/usr/bin/python3", root / "opt/helpers/bin/python3")
    entries = [*tree_entries(root), Entry("etc/passwd", "file", 0o644, b"root:x:0:0::/root:/bin/sh\n")]
    out = io.BytesIO()
    write_tar(reversed(entries), out)  # the order given does not matter
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        listing = [(m.name, m.type, oct(m.mode), m.mtime, m.uid, m.gid, m.uname, m.linkname, m.size)
                   for m in tar.getmembers()]
    assert listing == [
        ("etc/passwd", tarfile.REGTYPE, "0o644", 0, 0, 0, "root", "", 26),
        ("opt", tarfile.DIRTYPE, "0o755", 0, 0, 0, "root", "", 0),
        ("opt/helpers", tarfile.DIRTYPE, "0o755", 0, 0, 0, "root", "", 0),
        ("opt/helpers/a.txt", tarfile.REGTYPE, "0o644", 0, 0, 0, "root", "", 1),
        ("opt/helpers/bin", tarfile.DIRTYPE, "0o755", 0, 0, 0, "root", "", 0),
        ("opt/helpers/bin/python3", tarfile.SYMTYPE, "0o777", 0, 0, 0, "root", "/usr/bin/python3", 0),
        ("opt/helpers/bin/tool", tarfile.REGTYPE, "0o755", 0, 0, 0, "root", "", 10),
    ]
    first = pack_layer(entries, tmp_path / "1.tar", tmp_path / "1.tar.gz")
    second = pack_layer(entries, tmp_path / "2.tar", tmp_path / "2.tar.gz")
    assert first == second
    assert first.diff_id == "sha256:" + hashlib.sha256((tmp_path / "1.tar").read_bytes()).hexdigest()
    assert (tmp_path / "1.tar.gz").read_bytes()[4:8] == b"\0\0\0\0"  # gzip header: no mtime


def test_console_scripts_point_at_the_venv_and_their_record_stays_true(tmp_path: Path) -> None:
    venv = tmp_path / "opt/helpers"
    site = venv / "lib/python3.11/site-packages"
    (site / "tool-1.0.dist-info").mkdir(parents=True)
    (venv / "bin").mkdir()
    body = b"# -*- coding: utf-8 -*-\nimport sys\n"
    (venv / "bin/tool").write_bytes(b"#!/work/main/.venv/bin/python\n" + body)
    (venv / "bin/long").write_bytes(b"#!/bin/sh\n'''exec' \"/a b/python\" \"$0\" \"$@\"\n' '''\n" + body)
    (venv / "bin/shell").write_bytes(b"#!/bin/sh\necho hi\n")
    record = "tool/__init__.py,sha256=x,0\n../../../bin/tool,sha256=old,3\n../../../bin/shell,sha256=s,18\n"
    (site / "tool-1.0.dist-info/RECORD").write_text(record)
    assert fix_scripts(venv, site) == ["../../../bin/long", "../../../bin/tool"]
    new = b"#!/opt/helpers/bin/python\n" + body
    assert (venv / "bin/tool").read_bytes() == new == (venv / "bin/long").read_bytes()
    assert (venv / "bin/shell").read_bytes() == b"#!/bin/sh\necho hi\n"
    digest = base64.urlsafe_b64encode(hashlib.sha256(new).digest()).rstrip(b"=").decode()
    assert (site / "tool-1.0.dist-info/RECORD").read_text() == (
        f"tool/__init__.py,sha256=x,0\n../../../bin/tool,sha256={digest},{len(new)}\n../../../bin/shell,sha256=s,18\n")


def test_venv_files_are_those_venv_adds(tmp_path: Path) -> None:
    venv = tmp_path / "opt/helpers"
    (venv / "lib/python3.13/site-packages").mkdir(parents=True)
    venv_files(venv, "3.13", BasePython("/usr/local", "/usr/local/bin/python3.13", "3.13.5"))
    links = {p.relative_to(venv).as_posix(): os.readlink(p) for p in venv.rglob("*") if p.is_symlink()}
    assert links == {"bin/python3": "/usr/local/bin/python3", "bin/python": "python3",
                     "bin/python3.13": "python3", "lib64": "lib"}
    assert (venv / "include/python3.13").is_dir()
    assert (venv / ".gitignore").read_text() == "# Created by venv; see https://docs.python.org/3/library/venv.html\n*\n"
    assert (venv / "pyvenv.cfg").read_text().splitlines()[2] == "version = 3.13.5"


def test_the_base_python_release_and_uv_platform() -> None:
    status = "Package: python3.11\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u6\n"
    assert python_release("3.11", status, [], b"") == "3.11.2"
    assert python_release("3.13", "", ["PATH=/x", "PYTHON_VERSION=3.13.5"], b"") == "3.13.5"
    assert python_release("3.11", None, [], b"junk\x003.11.9\x00junk") == "3.11.9"
    with pytest.raises(EngineError, match=r"which Python 3\.12\.x"):
        python_release("3.12", None, ["PYTHON_VERSION=3.11.2"], b"\x003.11.2\x00")
    assert python_platform(TargetFacts("3.13", "cp", (2, 41), "aarch64")) == "aarch64-manylinux_2_40"
    assert python_platform(TargetFacts("3.11", "cp", (2, 36), "x86_64")) == "x86_64-manylinux_2_36"


def files(*names: str) -> tuple[LockedFile, ...]:
    return tuple(LockedFile(n.split("-")[0], "1.0", n, SHA) for n in names)


def pin(targets: dict[str, TargetPin]) -> PackagePin:
    return PackagePin(name="probe-helper", version="1.2.0", wheel="probe_helper-1.2.0-py3-none-any.whl",
                      sha256="b" * 64, url="http://i/packages/probe_helper-1.2.0-py3-none-any.whl",
                      index_url="http://i/simple/", kfp_version="2.0.0", commit="c" * 40,
                      released_at="2026-01-01T00:00:00Z", targets=targets)


def test_labels_of_a_declared_target_name_it_and_agree_across_platforms() -> None:
    closure = {AMD64: files("np-1.0-cp313-cp313-manylinux_2_17_x86_64.whl"),
               ARM64: files("np-1.0-cp313-cp313-manylinux_2_17_aarch64.whl")}
    released = pin({"py313": TargetPin("3.13", "cp", (2, 41), "b@sha256:" + SHA, None, closure)})
    labels = target_labels(released, "py313")
    assert labels == {
        "io.helperhub.package": "probe-helper", "io.helperhub.version": "1.2.0",
        "io.helperhub.wheel-sha256": "b" * 64, "io.helperhub.kfp-version": "2.0.0",
        "io.helperhub.closure-sha256": target_closure_sha256(closure),
        "io.helperhub.target": "py313", "io.helperhub.python": "3.13",
        "io.helperhub.implementation": "cp", "io.helperhub.glibc": "2.41",
    }
    assert target_closure_sha256(closure) not in (closure_sha256(closure[AMD64]), closure_sha256(closure[ARM64]))
    assert target_closure_sha256({ARM64: closure[ARM64]}) == closure_sha256(closure[ARM64])
    assert release_labels(released, "py313", "0.13.8", "root") == {
        **labels, "io.helperhub.recipe-sha256": target_recipe_sha256("0.13.8"), "io.helperhub.image-user": "root"}
    assert target_recipe_sha256("0.13.8") != target_recipe_sha256("0.13.9")
    assert platform_wheel(released, "py313", ARM64).closure == closure[ARM64]
    with pytest.raises(ConfigError, match="no closure for linux/amd64 of target py311"):
        platform_wheel(pin({"py311": TargetPin("3.11", "cp", (2, 36), closure={ARM64: closure[ARM64]})}),
                       "py311", AMD64)
    assert (arch(AMD64), arch(ARM64)) == ("amd64", "arm64")


def test_the_default_target_keeps_the_labels_of_images_before_targets() -> None:
    released = pin({}).with_closure(files("six-1.0-py3-none-any.whl"))
    assert released.default_target == "default"
    assert target_labels(released) == expected_labels(released)


def test_the_registry_api_runs_on_the_standard_library_alone() -> None:
    """images/base.sh runs it before the virtualenv exists: it may import nothing else (here no
    site-packages at all), and of helperhub only the packages above it, which import nothing."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import helperhub.images.registry_api; "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(REPO)], capture_output=True, text=True,
                         check=True).stdout.split()
    ours = [m for m in out if m.partition(".")[0] == "helperhub"]
    assert ours == ["helperhub", "helperhub.images", "helperhub.images.registry_api"]
    others = {m.partition(".")[0] for m in out} - {"helperhub", "__main__"}
    assert others and others <= set(sys.stdlib_module_names)
