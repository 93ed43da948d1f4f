"""No pip configuration of the base image reaches a step: a base whose /etc/pip.conf adds an
extra index (dependency confusion) sees no request from a package-mode step."""

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helperhub.lock.lockfile import load_lock
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.factory import helper_component
from helperhub.pipelines.local_run import docker_runner
from tests.conftest import ReleasedRepo

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@dataclass
class Decoy:
    """An index nobody should ask: it answers 404 and counts every request."""

    port: int
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def decoy() -> Iterator[Decoy]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_error(404)

        do_HEAD = do_GET

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Decoy(int(server.server_address[1]), seen)
    server.shutdown()
    server.server_close()


@pytest.fixture
def confused_base(client: Any, base_image: str, decoy: Decoy) -> Iterator[str]:
    """The base image with a system-wide pip config that adds the decoy as an extra index."""
    tag = f"helperhub-test/pip-conf:{decoy.port}"
    dockerfile = (
        f"FROM {base_image}\n"
        f"RUN printf '[global]\\nextra-index-url = http://127.0.0.1:{decoy.port}/simple/\\n' > /etc/pip.conf\n"
    )
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, forcerm=True, pull=False)
    yield tag
    client.images.remove(tag, force=True)


def small_step(x: int) -> int:  # no `from __future__ import annotations` here: kfp reads real types
    import tabular_helpers

    assert tabular_helpers.__version__
    return x + 1


@pytest.mark.parametrize("pin_by", ["hash", "version"])
def test_package_mode_ignores_the_pip_config_of_its_base_image(
    released_all: ReleasedRepo, client: Any, decoy: Decoy, confused_base: str, tmp_path: Path, pin_by: str
) -> None:
    from kfp import local

    index = released_all.index.settings
    pin = load_lock(released_all.root / "pins.json").require("tabular-helpers", fix="-")
    # without the fix the decoy is asked: pip --isolated still reads /etc/pip.conf ...
    download = ["python3", "-m", "pip", "--isolated", "download", "--no-deps", "--dest", "/tmp/dl",
                "--index-url", index.simple_url, "--trusted-host", index.host, f"tabular-helpers=={pin.version}"]
    client.containers.run(confused_base, download, network_mode="host", remove=True)
    assert any(path.startswith("/simple/tabular-helpers") for path in decoy.requests), decoy.requests
    # ... and skips it only when PIP_CONFIG_FILE is os.devnull
    decoy.requests.clear()
    client.containers.run(confused_base, download, network_mode="host", remove=True,
                          environment={"PIP_CONFIG_FILE": "/dev/null"})
    assert decoy.requests == []

    delivery = Delivery(lock=load_lock(released_all.root / "pins.json"), mode=Mode.PACKAGE,
                        base_image=confused_base, pin_by=pin_by)
    step = helper_component(small_step, helpers=["tabular-helpers"], delivery=delivery)
    root = tmp_path / "runs"
    root.mkdir()
    local.init(runner=docker_runner(Mode.PACKAGE), pipeline_root=str(root), raise_on_error=True)
    assert step(x=1).output == 2
    assert decoy.requests == [], f"the step asked the decoy index: {decoy.requests}"
