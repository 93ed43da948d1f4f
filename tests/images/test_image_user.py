"""The user helper images run as: root by default, as their base image, so an image-mode step runs
under KFP's own ``DockerRunner()`` as root and as an ordinary user; a numeric non-root UID:GID as a
setting, part of the image's identity."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, IntegrityError
from helperhub.core.progress import Silent
from helperhub.core.settings import parse_settings
from helperhub.images import engine
from helperhub.images.context import (
    DOCKERFILE,
    RECIPE_LABEL,
    USER_LABEL,
    ImageSpec,
    check_image_user,
    expected_labels,
    image_spec,
    label_mismatch,
    recipe_sha256,
)
from helperhub.images.stage import ImageSettings, release_image
from helperhub.lock.lockfile import PackagePin, load_lock
from helperhub.registry.client import IndexSettings
from helperhub.release.run import open_image_stage
from tests.conftest import ReleasedRepo, make_repo
from tests.pipelines.test_factory import UV, fake_pin

NON_ROOT = defaults.NON_ROOT_IMAGE_USER  # "10001:10001"


def spec_for(user: str) -> ImageSpec:
    return image_spec(fake_pin("tabular-helpers"), registry="127.0.0.1:5000", base_image="base@sha256:1",
                      index=IndexSettings("http://10.0.0.1:8080"), uv=UV, user=user)


# -- rendering: pure ----------------------------------------------------------------------------


def test_default_image_user_is_root_and_rendered_as_build_arg_and_label() -> None:
    assert defaults.IMAGE_USER == "root"
    default = image_spec(fake_pin("tabular-helpers"), registry="127.0.0.1:5000", base_image="base@sha256:1",
                         index=IndexSettings("http://10.0.0.1:8080"), uv=UV)
    assert default == spec_for("root")
    assert dict(default.buildargs)["IMAGE_USER"] == "root"
    assert USER_LABEL == "io.helperhub.image-user"
    assert dict(default.labels) == {
        **expected_labels(fake_pin("tabular-helpers")), RECIPE_LABEL: recipe_sha256(UV), USER_LABEL: "root"}


def test_non_root_setting_changes_only_the_user_arg_and_label() -> None:
    root, non_root = spec_for("root"), spec_for(NON_ROOT)
    assert dict(non_root.buildargs)["IMAGE_USER"] == "10001:10001"
    assert dict(non_root.labels)["io.helperhub.image-user"] == "10001:10001"
    assert {k: v for k, v in root.buildargs if k != "IMAGE_USER"} == {
        k: v for k, v in non_root.buildargs if k != "IMAGE_USER"}
    assert non_root.ref == root.ref == "127.0.0.1:5000/tabular-helpers:1.0.0"
    # an existing tag built for the other user is another image: its labels say so
    assert label_mismatch(dict(non_root.labels), dict(root.labels)) == [
        "io.helperhub.image-user=root (expected 10001:10001)"]
    assert label_mismatch(dict(root.labels), dict(non_root.labels)) == [
        "io.helperhub.image-user=10001:10001 (expected root)"]
    assert label_mismatch(dict(root.labels), {k: v for k, v in root.labels if k != USER_LABEL}) == [
        "io.helperhub.image-user=<missing> (expected root)"]


def test_dockerfile_sets_the_user_last_from_the_build_arg() -> None:
    text = DOCKERFILE.read_text()
    lines = text.splitlines()
    assert lines[-1] == "USER ${IMAGE_USER}"
    assert [line for line in lines if line.startswith("USER")] == ["USER ${IMAGE_USER}"]
    assert f"ARG IMAGE_USER={defaults.IMAGE_USER}" in lines
    assert '      io.helperhub.image-user="${IMAGE_USER}"' in lines
    # after both install layers, so they are the same (cached, pushed once) for every user
    assert text.index("ARG IMAGE_USER") > text.index("ARG REQUIREMENTS") > text.index("ARG DEPENDENCIES")
    assert text.index("ARG IMAGE_USER") > text.rindex("uv\" pip install")
    assert "--no-log-init" in text and "10001" not in text


@pytest.mark.parametrize("user", ["root", "10001:10001", "1:0", "65534:65534", "2147483647:2147483647"])
def test_accepted_image_users(user: str) -> None:
    assert check_image_user(user) == user


@pytest.mark.parametrize("user", ["", "0:0", "0:10001", "10001", "helper", "10001:helper", "010001:10001",
                                  "2147483648:1", "10001:10001 ", "$(id)", "-1:1"])
def test_refused_image_users(user: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_image_user(user)
    assert str(err.value) == (
        f"image user {user!r} is neither root nor a numeric non-root UID:GID; "
        "set image-user / HUB_IMAGE_USER to e.g. 10001:10001, or root"
    )
    with pytest.raises(ConfigError):
        spec_for(user)
    with pytest.raises(ConfigError):
        ImageSettings("127.0.0.1:5000", "python:3.11-slim", IndexSettings("http://x"), user)


def test_a_wrong_user_fails_before_the_engine_is_asked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image user 'nobody'"):
        open_image_stage(tmp_path, IndexSettings("http://x"), "127.0.0.1:1", "python:3.11-slim",
                         required=False, report=Silent(), client=object(), image_user="nobody")


def test_image_user_is_a_pyproject_setting_and_a_flag() -> None:
    from click.testing import CliRunner

    from helperhub.cli import cli
    from helperhub.cli.config import default_map

    assert parse_settings({"image-user": NON_ROOT}, "pyproject.toml") == {"image_user": NON_ROOT}
    mapped = default_map(cli, {"image_user": NON_ROOT})
    assert mapped["release"]["image_user"] == mapped["images"]["image_user"] == NON_ROOT
    for command in ("release", "images"):
        out = CliRunner().invoke(cli, [command, "--help"], terminal_width=200).output
        assert "--image-user" in out and "HUB_IMAGE_USER" in out and "image-user]" in out, out


def test_image_user_precedence_flag_env_pyproject_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`helperhub images` hands the image stage the user of the flag, else HUB_IMAGE_USER, else the
    repository's ``image-user``, else root."""
    from click.testing import CliRunner

    from helperhub.cli import cli
    from helperhub.release import run

    users: list[str] = []

    def record(*args: Any, image_user: str, **kwargs: Any) -> object:
        users.append(image_user)
        return object()

    monkeypatch.setattr(run, "open_image_stage", record)  # the command imports them when it runs
    monkeypatch.setattr(run, "bake_images", lambda *args: [])
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)

    def images(*flags: str, env: dict[str, str] | None = None) -> None:
        result = CliRunner().invoke(cli, ["images", "--index-url", "http://127.0.0.1:1", *flags], env=env)
        assert result.exit_code == 0, result.output

    images()
    (repo / "pyproject.toml").write_text('[tool.helperhub]\nimage-user = "20000:20000"\n')
    images()
    images(env={"HUB_IMAGE_USER": "30000:30000"})
    images("--image-user", NON_ROOT, env={"HUB_IMAGE_USER": "30000:30000"})
    assert users == ["root", "20000:20000", "30000:30000", "10001:10001"]


# -- real images and real runs under KFP's own DockerRunner ---------------------------------------

PIPELINE = '''
import json, sys
from kfp import dsl, local

IMAGE, ROOT = sys.argv[1], sys.argv[2]


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def fill(table: dsl.Output[dsl.Dataset]) -> str:
    import os

    import pandas as pd
    import tabular_helpers
    from tabular_helpers import impute

    filled = impute(pd.DataFrame({"x": [1.0, None, 3.0]}), "mean")
    filled.to_csv(table.path, index=False)
    return f"{tabular_helpers.__version__} uid={os.getuid()} mean={filled['x'][1]}"


@dsl.pipeline(name="image-user")
def pipe() -> str:
    return fill().outputs["Output"]


local.init(runner=local.DockerRunner(network_mode="host"), pipeline_root=ROOT, raise_on_error=True)
print("RESULT=" + json.dumps(pipe().output))
'''


@dataclasses.dataclass(frozen=True)
class Run:
    code: int
    output: str
    result: str | None
    tables: list[str]


def run_pipeline(image: str, root: Path, prefix: Sequence[str] = (), env: dict[str, str] | None = None) -> Run:
    """The pipeline above, as a team runs it: a script calling ``kfp.local.init`` with KFP's own
    ``DockerRunner``, in its own process (``prefix`` runs it as another user), with the folder
    ``root`` (the caller's) as its pipeline root."""
    script = root / "pipeline.py"
    script.write_text(PIPELINE)
    proc = subprocess.run([*prefix, sys.executable, str(script), image, str(root)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=root)
    output = proc.stdout + proc.stderr
    found = [line.removeprefix("RESULT=") for line in proc.stdout.splitlines() if line.startswith("RESULT=")]
    tables = [p.read_text() for p in sorted(root.glob("image-user-*/fill/table"))]
    return Run(proc.returncode, output, json.loads(found[-1]) if found else None, tables)


@pytest.fixture(scope="module")
def tabular(released_all: ReleasedRepo) -> PackagePin:
    """tabular-helpers as the session's release pinned it, its image built with the default user."""
    return load_lock(released_all.root / "pins.json").require("tabular-helpers", fix="-")


@pytest.fixture(scope="module")
def non_root_image(client: Any, released_all: ReleasedRepo, tabular: PackagePin) -> Iterator[str]:
    """The same pin built with the non-root setting, under a local-only tag (nothing is pushed)."""
    spec = image_spec(tabular, registry="helperhub-test-non-root", index=released_all.index.settings,
                      base_image=engine.repo_digest(client, released_all.base_image),
                      uv=load_lock(released_all.root / "pins.json").require_tool("uv"), user=NON_ROOT)
    engine.build(client, spec, log=lambda _line: None)
    yield spec.ref
    client.images.remove(spec.ref, force=True)


def expected(uid: int) -> str:
    return f"1.0.0 uid={uid} mean=2.0"


TABLE = "x\n1.0\n2.0\n3.0\n"


@pytest.mark.docker
def test_default_image_runs_as_root_with_its_user_in_the_labels(client: Any, tabular: PackagePin) -> None:
    assert tabular.image is not None
    attrs = client.images.get(tabular.image.ref).attrs
    assert attrs["Config"]["User"] == "root"
    assert attrs["Config"]["Labels"][USER_LABEL] == "root"
    out = client.containers.run(tabular.image.ref, ["sh", "-c", "id -un; id -u; stat -c '%u %a' /opt/helpers"],
                                network_mode="none", remove=True).decode().split("\n")
    assert out[:3] == ["root", "0", "0 755"]


@pytest.mark.docker
def test_non_root_setting_builds_an_image_that_runs_as_that_uid(
    client: Any, tabular: PackagePin, non_root_image: str,
) -> None:
    assert tabular.image is not None
    attrs = client.images.get(non_root_image).attrs
    assert attrs["Config"]["User"] == "10001:10001" == NON_ROOT
    assert attrs["Config"]["Labels"][USER_LABEL] == NON_ROOT
    out = client.containers.run(
        non_root_image, ["sh", "-c", "id -un; id -u; id -g; touch /opt/helpers/x 2>/dev/null && echo writable "
                         "|| echo read-only; stat -c %u /opt/helpers; python3 -c 'import tabular_helpers'"],
        network_mode="none", remove=True,
    ).decode().split()
    assert out == ["helper", "10001", "10001", "read-only", "0"]
    # every layer of the root image is shared (the install layers above all); the non-root one adds
    # the account's small layer, the root one none (its RUN changes no file)
    root_layers = client.images.get(tabular.image.ref).attrs["RootFS"]["Layers"]
    assert attrs["RootFS"]["Layers"][:-1] == root_layers


@pytest.mark.docker
def test_a_tag_built_for_another_user_is_not_reused(client: Any, released_all: ReleasedRepo,
                                                    tabular: PackagePin) -> None:
    settings = ImageSettings(released_all.oci, released_all.base_image, released_all.index.settings, NON_ROOT)
    uv = load_lock(released_all.root / "pins.json").require_tool("uv")
    with pytest.raises(IntegrityError, match=r"other content \(io.helperhub.image-user=root "
                       r"\(expected 10001:10001\)\); released images never change"):
        release_image(settings, tabular, uv, client, Silent())


@pytest.mark.docker
def test_image_mode_step_runs_under_kfps_docker_runner_as_root(tabular: PackagePin, tmp_path: Path) -> None:
    assert tabular.image is not None and os.getuid() == 0
    assert (tmp_path.stat().st_uid, tmp_path.stat().st_mode & 0o777) == (0, 0o700)
    run = run_pipeline(tabular.image.ref, tmp_path)
    assert run.code == 0, run.output[-3000:]
    assert run.result == expected(0) and run.tables == [TABLE]


def docker_socket() -> Path:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        pytest.skip(f"the engine is not on a local socket ({host})")
    return Path(host.removeprefix("unix://"))


@pytest.fixture
def user_folder() -> Iterator[Path]:
    """A folder owned by nobody (uid 65534), outside root's private pytest folder, removed after."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("running a pipeline as another user needs root and setpriv")
    folder = Path(tempfile.mkdtemp(prefix="hub-image-user-"))
    os.chown(folder, 65534, 65534)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.docker
def test_image_mode_step_runs_under_kfps_docker_runner_as_an_ordinary_user(
    tabular: PackagePin, user_folder: Path,
) -> None:
    """nobody runs the pipeline: its pipeline root is its own folder (0700), and it reaches the
    engine as a member of the socket's group, as an ordinary user in the `docker` group does (only
    for this process: nothing on the machine changes)."""
    assert tabular.image is not None
    socket = docker_socket()
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={socket.stat().st_gid}", "--"]
    env = {"PATH": os.environ["PATH"], "HOME": str(user_folder), "DOCKER_HOST": f"unix://{socket}"}
    probe = subprocess.run([*nobody, "sh", "-c", "id -u; touch /root/x"], capture_output=True, text=True, env=env)
    assert probe.stdout.split() == ["65534"] and probe.returncode != 0  # really not root
    run = run_pipeline(tabular.image.ref, user_folder, nobody, env)
    assert run.code == 0, run.output[-3000:]
    assert run.result == expected(0) and run.tables == [TABLE]
    assert (user_folder.stat().st_uid, user_folder.stat().st_mode & 0o777) == (65534, 0o700)


@pytest.mark.docker
def test_non_root_image_fails_there_as_kfp_runs_it(non_root_image: str, tmp_path: Path) -> None:
    """Why root is the default: the same step on the non-root image cannot write a pipeline root
    that belongs to the caller."""
    run = run_pipeline(non_root_image, tmp_path)
    assert run.code != 0 and run.result is None and run.tables == []
    assert "PermissionError" in run.output, run.output[-3000:]
