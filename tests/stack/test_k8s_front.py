"""The cluster pod's front config (registry/k8s/base/front.conf, as committed) run by a real nginx
in front of a real registry on loopback: reads keep working from disk while the registry is down,
the front's body limit is exactly the registry's, and nginx spools upload bodies only where the
manifests leave room for it (tests/test_manifests.py: spools_chunked_uploads)."""

from __future__ import annotations

import base64
import http.client
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from helperhub.core.defaults import CLUSTER_MAX_UPLOAD_MB
from helperhub.registry.server.upload import FORM_SLACK
from helperhub.stack.manifests import FRONT_CONF, SIDECAR_APP
from tests.conftest import REPO, RunningIndex, free_port, start_index
from tests.sidebyside import PASSWORD, USER, make_wheel, stream_upload
from tests.stack.test_manifests import spools_chunked_uploads

pytestmark = pytest.mark.slow  # a real nginx in front of a real registry, restarted

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")

COMMITTED = (REPO / "registry/k8s/base" / FRONT_CONF).read_text()
LIMIT = (CLUSTER_MAX_UPLOAD_MB << 20) + FORM_SLACK  # the largest body the base's registry takes
SPOOLED = "a client request body is buffered to a temporary file"  # nginx's warning when it spools


@dataclass
class Pod:
    """The registry and the front of one pod, on loopback."""

    index: RunningIndex
    front: str  # the front's base URL
    state: Path  # the front's /tmp/nginx

    def errors(self) -> str:
        return (self.state / "error.log").read_text()


def pod_conf(tmp: Path, front_port: int, registry_port: int) -> str:
    """The committed config with the pod's paths and addresses moved into ``tmp`` and onto loopback."""
    conf = COMMITTED
    for old, new in (("/data/packages", str(tmp / "index/packages")), ("/tmp/nginx", str(tmp / "state")),
                     ("0.0.0.0:8080", f"127.0.0.1:{front_port}"), (SIDECAR_APP, f"127.0.0.1:{registry_port}")):
        assert old in conf, old
        conf = conf.replace(old, new)
    return conf


@contextmanager
def running_pod() -> Iterator[Pod]:
    """Started as root, nginx serves as `nobody`: the folder must be open to others, as the
    registry's own files are (pytest's temp folders are not)."""
    assert NGINX is not None, "nginx is not installed: run `make test-tools`"
    tmp = Path(tempfile.mkdtemp(prefix="k8s-front-"))
    tmp.chmod(0o755)
    registry_port, front_port, state = free_port(), free_port(), tmp / "state"
    state.mkdir()
    (state / "nginx.conf").write_text(pod_conf(tmp, front_port, registry_port))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HUB_REGISTRY_MAX_UPLOAD_MB", str(CLUSTER_MAX_UPLOAD_MB))  # as in base/deployment.yaml
        index = start_index(tmp / "index", user=USER, password=PASSWORD, port=registry_port)
    with (tmp / "nginx.stderr").open("wb") as stderr:
        nginx = subprocess.Popen([NGINX, "-c", str(state / "nginx.conf"), "-e", "stderr"],
                                 stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        front, deadline = f"http://127.0.0.1:{front_port}", time.monotonic() + 10
        while True:
            try:
                requests.get(front + "/simple/", timeout=1)
                break
            except requests.ConnectionError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "nginx.stderr").read_text()) from None
                time.sleep(0.05)
        yield Pod(index, front, state)
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        if index.proc.poll() is None:
            index.stop()
        shutil.rmtree(tmp)


@pytest.fixture(scope="module")
def pod() -> Iterator[Pod]:
    with running_pod() as running:
        yield running


def declare(url: str, length: int, *, login: bool = True, content_type: str = "text/plain") -> tuple[int, str]:
    """POST headers only, declaring ``length`` bytes: what answers before any body is sent."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=10)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Type", content_type)
    conn.putheader("Content-Length", str(length))
    if login:
        conn.putheader("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    conn.endheaders()
    response = conn.getresponse()
    answer = (response.status, response.read().decode(errors="replace"))
    conn.close()
    return answer


def test_reads_keep_working_while_the_registry_is_down(tmp_path: Path) -> None:
    """The pod's registry container restarting (crash, liveness) leaves its front serving."""
    with running_pod() as pod:
        reads_without_the_registry(pod, tmp_path)


def reads_without_the_registry(pod: Pod, tmp_path: Path) -> None:
    filename, data = make_wheel("k8s-front-demo", "1.0.0", payload=bytes(2 << 20))
    (tmp_path / filename).write_bytes(data)
    assert stream_upload(pod.front, tmp_path / filename) == 200  # through the front, with a Content-Length
    assert SPOOLED not in pod.errors(), "a body with a Content-Length must stream through"
    pod.index.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(pod.index.settings.url + "/health", timeout=5)
    page = requests.get(f"{pod.front}/simple/k8s-front-demo/", timeout=5)
    assert page.status_code == 200 and filename in page.text
    assert requests.get(f"{pod.front}/simple/", timeout=5).status_code == 200
    served = requests.get(f"{pod.front}/packages/{filename}", timeout=5)
    assert served.status_code == 200 and served.content == data
    assert requests.post(f"{pod.front}/", data=b"x", timeout=5).status_code == 502, "uploads need the registry"


def test_front_refuses_exactly_what_the_registry_refuses(pod: Pod) -> None:
    """Decided from the declared length alone, by both: a body of the limit passes the front and
    gets the registry's next answer (not a form: 400); one byte more is refused, by either."""
    registry = pod.index.settings.url
    assert declare(registry, LIMIT)[0] == 400
    assert declare(registry, LIMIT + 1)[0] == 413
    status, body = declare(pod.front, LIMIT)
    assert status == 400 and "multipart/form-data" in body, "the front passed it on"
    status, body = declare(pod.front, LIMIT + 1)
    assert status == 413 and "nginx" in body, "the front refused it itself"


def test_nginx_spools_a_chunked_body_only_where_the_manifests_expect_it(pod: Pod) -> None:
    conn = http.client.HTTPConnection(pod.front.removeprefix("http://"), timeout=10)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = bytes(64 << 10)
    try:
        for _ in range(16):
            conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before the end: the answer is on its way
    assert conn.getresponse().status == 401  # no login: the registry's answer, through the front
    conn.close()
    assert (SPOOLED in pod.errors()) is spools_chunked_uploads(COMMITTED)
