"""The programs that come with a uv install, run as a step runs them: the bootstrap of uv from
the index (sha256 checked, one-line errors), the record of what uv installed, and the whole
install command of a step against a real index."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from helperhub.core.uv import BOOTSTRAP, RECORD
from helperhub.lock.closure import LockedFile
from helperhub.pipelines.installer import MachineInstall, uv_script
from tests.conftest import free_port, start_index


def bootstrap(url: str, sha256: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-", url, sha256, "0.13.8", str(dest)], input=BOOTSTRAP,
                          capture_output=True, text=True, timeout=60)


def fake_uv_wheel(tmp_path: Path) -> tuple[Path, str]:
    wheel = tmp_path / "uv-0.13.8-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as whl:
        whl.writestr("uv-0.13.8.data/scripts/uv", "#!/bin/sh\necho uv 0.13.8\n")
        whl.writestr("uv-0.13.8.dist-info/METADATA", "Metadata-Version: 2.1\nName: uv\nVersion: 0.13.8\n")
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_bootstrap_unpacks_the_pinned_wheel(tmp_path: Path) -> None:
    wheel, sha = fake_uv_wheel(tmp_path)
    proc = bootstrap(wheel.as_uri(), sha, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert subprocess.run([str(tmp_path / "uv")], capture_output=True, text=True).stdout == "uv 0.13.8\n"


def test_bootstrap_refuses_other_bytes_in_one_line(tmp_path: Path) -> None:
    wheel, _ = fake_uv_wheel(tmp_path)
    proc = bootstrap(wheel.as_uri(), "0" * 64, tmp_path)
    assert proc.returncode == 1 and not (tmp_path / "uv").exists()
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith(f"helperhub: uv 0.13.8 from {wheel.as_uri()} has sha256 ")
    assert proc.stderr.strip().endswith(f"the lock pins {'0' * 64}")


def test_bootstrap_without_an_index_names_it_and_the_version(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/packages/uv-0.13.8-py3-none-any.whl"
    proc = bootstrap(url, "0" * 64, tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith(f"helperhub: cannot get uv 0.13.8 from {url} (")


def test_record_reads_requirement_lines_and_url_words(tmp_path: Path) -> None:
    lines = tmp_path / "requirements.txt"
    lines.write_text(f"tabular-helpers @ http://i/p/t.whl --hash=sha256:{'a' * 64}\n"
                     f"numpy==2.0.0 --hash=sha256:{'b' * 64}\n"
                     f"vision-helpers@http://i/p/v.whl#sha256={'c' * 64}\n")
    out = tmp_path / "report.json"
    subprocess.run([sys.executable, "-", str(out), str(lines)], input=RECORD, check=True, text=True)
    items = json.loads(out.read_text())["install"]
    assert [(i["metadata"]["name"], i["download_info"]["archive_info"]["hashes"]["sha256"]) for i in items] == [
        ("tabular-helpers", "a" * 64), ("numpy", "b" * 64), ("vision-helpers", "c" * 64)]


def locked_wheel(folder: Path, name: str, version: str) -> LockedFile:
    """A small real wheel (a package with a subpackage) in ``folder``, as the lock pins it."""
    files = {f"{name}/__init__.py": f"VALUE = {name!r}\n", f"{name}/sub/__init__.py": f"VALUE = '{name}.sub'\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                   "Tag: py3-none-any\n"}
    record = "".join(f"{path},,\n" for path in files) + f"{name}-{version}.dist-info/RECORD,,\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as whl:
        for path, text in {**files, f"{name}-{version}.dist-info/RECORD": record}.items():
            whl.writestr(path, text)
    return LockedFile(name, version, wheel.name, hashlib.sha256(wheel.read_bytes()).hexdigest())


@pytest.mark.slow
def test_uv_install_leaves_the_locked_files_and_no_cache(tmp_path: Path) -> None:
    """The step's whole install command, run as a host run (kfp's subprocess runner) runs it:
    exactly the locked files end up in the environment, each a file of its own once uv's cache
    is gone, and nothing of the cache or of uv stays behind in the step's temp folder."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv is not None, "uv is a dev dependency of the project"
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    packages = tmp_path / "index" / "packages"
    packages.mkdir(parents=True)
    locked = [locked_wheel(packages, "alpha", "1.0.0"), locked_wheel(packages, "beta", "2.0.0")]
    running = start_index(tmp_path / "index")
    try:
        base = running.settings.base
        files = tuple((f"{f.name} @ {base}/packages/{f.filename}", f) for f in locked)
        script = uv_script([MachineInstall(platform.machine(), LockedFile("uv", version, "uv.whl", "0" * 64),
                                           f"{base}/packages/uv.whl", files)],
                           index_url=None, reinstall=[], what="target default of alpha 1.0.0")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "uv").symlink_to(uv)
        (tmp_path / "tmp").mkdir()
        env = {"PATH": f"{tmp_path / 'env' / 'bin'}:{tmp_path / 'bin'}:/usr/bin:/bin", "TMPDIR": str(tmp_path / "tmp"),
               "UV_OFFLINE": "1", "UV_LINK_MODE": "symlink"}  # the caller's uv settings must not count
        step = ('import alpha.sub, beta.sub, os; '
                'print(alpha.sub.VALUE, beta.VALUE, os.environ["HELPERHUB_INSTALL_REPORT"])')
        proc = subprocess.run(["sh", "-c", script, "python3", "-c", step], env=env, capture_output=True, text=True,
                              timeout=120)
    finally:
        running.stop()
    assert proc.returncode == 0, proc.stderr
    first, second, report = proc.stdout.split()
    assert (first, second) == ("alpha.sub", "beta")
    items = json.loads(Path(report).read_text())["install"]
    assert [(i["metadata"]["name"], i["download_info"]["archive_info"]["hashes"]["sha256"]) for i in items] == [
        (f.name, f.sha256) for f in locked]
    temp = Path(report).parent
    deadline = time.monotonic() + 20  # the cache goes in the background while the step runs
    while sorted(p.name for p in temp.iterdir()) != ["install-report.json", "requirements.txt"]:
        assert time.monotonic() < deadline, sorted(p.name for p in temp.iterdir())
        time.sleep(0.1)
    site = next((tmp_path / "env" / "lib").glob("python3*/site-packages"))
    for f in locked:
        module = site / f.name / "sub" / "__init__.py"
        assert not module.is_symlink() and module.stat().st_nlink == 1
        assert module.read_text() == f"VALUE = '{f.name}.sub'\n"
        with zipfile.ZipFile(packages / f.filename) as whl:
            names = {n for n in whl.namelist() if not n.endswith("/RECORD")}
        assert names <= {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
