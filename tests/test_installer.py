"""The programs that come with a uv install, run as a step runs them: the bootstrap of uv from
the index (sha256 checked, one-line errors) and the record of what uv installed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from helperhub.core.uv import BOOTSTRAP, RECORD

from .conftest import free_port


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
