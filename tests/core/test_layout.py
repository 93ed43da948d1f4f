"""The package as others install it: one import root, its run-time files inside, the release and
server stacks behind extras; and the git checks a release makes on a fresh clone."""

from __future__ import annotations

import email.parser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from helperhub.core.errors import GitError
from helperhub.core.git import dirty_paths, ensure_clean, parse_porcelain
from tests.conftest import REPO, clean_env, commit_all, git, make_repo


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel --no-deps .` of the checkout, as a user would build it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(out),
         str(REPO)],
        check=True, env=clean_env(), capture_output=True,
    )
    (found,) = out.glob("helperhub-*.whl")
    return found


def test_wheel_has_one_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert whl.read(top_level).decode().split() == ["helperhub"]
    assert tops == {"helperhub"}


def test_wheel_carries_its_run_time_files(wheel: Path) -> None:
    from helperhub.images import context
    from helperhub.pipelines import profiles
    from helperhub.stack import registry_image

    read_at_run_time = [context.DOCKERFILE, registry_image.DOCKERFILE, profiles.PROFILES_FILE]
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        for path in read_at_run_time:
            rel = path.relative_to(REPO).as_posix()
            assert rel in names, rel
            assert whl.read(rel) == path.read_bytes()
        assert "helperhub/py.typed" in names


def test_base_install_is_what_a_pipeline_author_needs(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(whl.read(meta).decode())
    base, extras = set(), {}
    for raw in msg.get_all("Requires-Dist") or []:
        req = Requirement(raw)
        if req.marker is None:
            base.add(req.name.lower())
        else:
            extra = str(req.marker).split("==")[-1].strip(" '\"")
            extras.setdefault(extra, set()).add(req.name.lower())
    assert {"kfp", "packaging", "click", "requests"} <= base
    assert not base & {"pypiserver", "waitress", "twine", "build", "docker", "hatchling", "passlib"}
    assert {"build", "twine", "docker"} <= extras["release"]
    assert {"pypiserver", "cheroot", "multipart", "bcrypt"} <= extras["registry"]
    kfp = next(Requirement(r) for r in msg.get_all("Requires-Dist") or [] if r.startswith("kfp"))
    assert kfp.specifier.contains("2.17.3") and not str(kfp.specifier).startswith("==")


@pytest.mark.parametrize(
    ("out", "paths"),
    [
        (" M pins.json\0", ["pins.json"]),  # the lock as the first line: its leading space is data
        ("?? new.txt\0 M pins.json\0", ["new.txt", "pins.json"]),  # ... and as a later line
        (" M helpers/a b.py\0", ["helpers/a b.py"]),
        ("R  new.py\0old.py\0 M pins.json\0", ["new.py", "pins.json"]),  # a rename's source is skipped
        ("", []),
    ],
)
def test_parse_porcelain(out: str, paths: list[str]) -> None:
    assert parse_porcelain(out) == paths


def test_changed_lock_does_not_make_the_tree_dirty(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    (root / "pins.json").write_text("{}\n")
    git(root, "add", "pins.json")
    commit_all(root, "lock")
    (root / "pins.json").write_text('{"format": 1}\n')  # what a release does to a committed lock
    assert dirty_paths(root) == []
    ensure_clean(root)
    (root / "helpers" / "notes.txt").write_text("x")
    with pytest.raises(GitError, match=r"uncommitted changes \(helpers/notes.txt\)"):
        ensure_clean(root)
