"""Base images for other Pythons and CPUs (images/base.sh): a Python 3.13 base from Debian trixie, and
python:3.11-slim for amd64 and arm64 under one multi-platform index, the arm64 one run under
qemu-user-static. Their facts (Python, implementation, glibc, CPU) are read from their files."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from helperhub.core import defaults
from helperhub.core.targets import TargetFacts, default_facts
from helperhub.images.facts import runtime_facts
from helperhub.images.oci import registry_answers
from tests.conftest import REPO, missing

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASES = "bookworm:amd64,arm64:python:3.11-slim trixie:amd64:python:3.13-slim"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
EMULATION = "/proc/sys/fs/binfmt_misc/qemu-aarch64"


@dataclass(frozen=True)
class Bases:
    oci: str
    index: dict[str, Any]
    digest: str  # of the index under python:3.11-slim

    def platform_ref(self, arch: str) -> str:
        """python:3.11-slim of one CPU, by its digest in the index."""
        (entry,) = [m for m in self.index["manifests"] if m["platform"]["architecture"] == arch]
        return f"{self.oci}/python@{entry['digest']}"


def read_index(oci: str) -> tuple[dict[str, Any], str]:
    resp = requests.get(f"http://{oci}/v2/python/manifests/3.11-slim",
                        headers={"Accept": ", ".join(INDEX_TYPES)}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"] in INDEX_TYPES, resp.headers["Content-Type"]
    return resp.json(), resp.headers["Docker-Content-Digest"]


def provision(oci: str) -> subprocess.CompletedProcess[str]:
    """`make engine` with the opt-in bases and arm64 emulation: images/base.sh builds what the
    registry lacks (minutes on a fresh machine), and nothing on a second run."""
    env = {**os.environ, "HUB_OCI_ADDR": oci, "HUB_ENGINE_BASES": BASES}
    return subprocess.run(["bash", str(REPO / "scripts" / "engine.sh"), "--emulation"], env=env,
                          capture_output=True, text=True, timeout=1800, check=False)


@pytest.fixture(scope="module")
def bases(client: Any) -> Bases:
    oci = os.environ.get("HUB_OCI_REGISTRY", defaults.OCI_REGISTRY)
    if not registry_answers(oci):
        missing(f"no OCI registry answers on {oci} (run `make engine`)")
    if not os.path.exists(EMULATION) and os.geteuid() != 0:
        missing("arm64 emulation is not registered and registering it needs root (scripts/engine.sh --emulation)")
    done = provision(oci)
    assert done.returncode == 0, done.stderr[-2000:]
    return Bases(oci, *read_index(oci))


def test_the_index_lists_an_amd64_and_an_arm64_image(bases: Bases) -> None:
    platforms = {(m["platform"]["os"], m["platform"]["architecture"]) for m in bases.index["manifests"]}
    assert platforms == {("linux", "amd64"), ("linux", "arm64")}
    for entry in bases.index["manifests"]:
        got = requests.get(f"http://{bases.oci}/v2/python/manifests/{entry['digest']}",
                           headers={"Accept": entry["mediaType"]}, timeout=30)
        assert got.status_code == 200 and len(got.content) == entry["size"]
    # Each platform also has its own tag, naming the same manifest as the index.
    for arch in ("amd64", "arm64"):
        tag = requests.head(f"http://{bases.oci}/v2/python/manifests/3.11-slim-{arch}",
                            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=30)
        assert bases.platform_ref(arch).endswith(tag.headers["Docker-Content-Digest"])


def test_a_client_that_knows_no_index_still_gets_the_amd64_image(bases: Bases) -> None:
    single = requests.get(f"http://{bases.oci}/v2/python/manifests/3.11-slim",
                          headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=30)
    assert single.status_code == 200
    assert bases.platform_ref("amd64").endswith(single.headers["Docker-Content-Digest"])


def test_the_trixie_base_runs_python_3_13(bases: Bases, client: Any) -> None:
    out = client.containers.run(f"{bases.oci}/python:3.13-slim",
                                ["python", "-c", "import sys; print(sys.version_info[:2])"],
                                network_mode="none", remove=True)
    assert out.decode().strip() == "(3, 13)"


def test_the_arm64_base_runs_under_emulation(bases: Bases, client: Any) -> None:
    script = ("uname -m; python3 -c 'import platform; print(platform.machine())'; "
              "test ! -e /usr/lib/python3.11/EXTERNALLY-MANAGED")
    out = client.containers.run(bases.platform_ref("arm64"), ["sh", "-c", script], network_mode="none", remove=True)
    assert out.decode().split() == ["aarch64", "aarch64"]


def test_facts_are_read_from_the_files_of_each_base(bases: Bases, client: Any) -> None:
    amd64 = runtime_facts(client, bases.platform_ref("amd64"))
    assert amd64 == TargetFacts("3.11", "cp", (2, 36), "x86_64")
    # The defaults the lock is resolved for are the facts of the default base.
    assert amd64 == default_facts()
    assert runtime_facts(client, bases.platform_ref("arm64")) == TargetFacts("3.11", "cp", (2, 36), "aarch64")
    assert runtime_facts(client, f"{bases.oci}/python:3.13-slim") == TargetFacts("3.13", "cp", (2, 41), "x86_64")


def test_a_second_run_builds_and_pushes_nothing(bases: Bases) -> None:
    started = time.monotonic()
    again = provision(bases.oci)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "python:3.11-slim is in the registry for amd64 arm64" in again.stderr
    assert "python:3.13-slim is in the registry for amd64" in again.stderr
    assert "pushed" not in again.stderr
    assert read_index(bases.oci)[1] == bases.digest
    assert time.monotonic() - started < 60
