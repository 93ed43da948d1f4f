"""`pins outdated` and `pins bump --latest/--all`, as the bot job of docs/pipeline-authors.md runs
them: a real index with two released versions of a helper (small generated wheels; a yanked and
a pre-release one beside them) and their images in a real OCI registry (manifests whose labels are
what a release writes), a team repository that pins the older one; then `pins outdated --json`,
`pins bump --all` and `pins check` through the CLI, and the typed functions behind them."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version as installed
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.version import Version

from helperhub.cli import cli
from helperhub.core import defaults
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, load_lock, save_lock
from helperhub.pipelines.outdated import (
    Newer,
    PinReport,
    Release,
    candidates,
    closure_moves,
    dependency_order,
    index_releases,
    newer_release,
    outdated,
    report_json,
    report_lines,
)
from helperhub.pipelines.pin_bump import Bump
from helperhub.pipelines.pins import bump_pin, check_pins
from helperhub.registry.client import parse_json_page, project_files_json, set_yanked
from tests.conftest import RunningIndex
from tests.indexclients import Dist, build_sdist, build_wheel
from tests.pipelines.target_locks import AMD64, ARM64, repo_lock, with_target
from tests.pipelines.test_bump_targets import helper_labels, publish, push_image

NAME, STILL = "upd-helpers", "still-helpers"
KFP = installed("kfp")  # the CLI locks the installed kfp: the index serves a stand-in of that version
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def locked(dist: Dist) -> LockedFile:
    name, version = dist.name.split("-")[:2]
    return LockedFile(name.replace("_", "-"), version, dist.name, dist.sha256)


def labels(wheel: Dist, version: str, closure: tuple[LockedFile, ...], **target: str) -> dict[str, str]:
    return {**helper_labels(wheel, version, closure, (AMD64,), **target), "io.helperhub.package": NAME,
            "io.helperhub.kfp-version": KFP}


def hub(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "400"})
    return result.exit_code, result.stdout, result.output


def test_outdated_then_bump_all_then_check(fresh_index: RunningIndex, oci: str, tmp_path: Path) -> None:
    dists, index = tmp_path / "dists", fresh_index.settings
    kfp, uv = build_wheel(dists, "kfp", KFP), build_wheel(dists, "uv", defaults.UV_VERSION)
    tiny10, tiny11 = build_wheel(dists, "tiny-dep", "1.0"), build_wheel(dists, "tiny-dep", "1.1")
    old_dep, new_dep = build_wheel(dists, "old-dep", "1.0"), build_wheel(dists, "new-dep", "1.0")
    v1 = build_wheel(dists, NAME, "1.0.0", requires=["tiny-dep<1.1", "old-dep", f"kfp=={KFP}"])
    v2 = build_wheel(dists, NAME, "2.0.0", requires=["tiny-dep>=1.1", "new-dep", f"kfp=={KFP}"])
    yanked = build_wheel(dists, NAME, "2.1.0", requires=[f"kfp=={KFP}"])
    pre = build_wheel(dists, NAME, "3.0.0rc1", requires=[f"kfp=={KFP}"])
    still = build_wheel(dists, STILL, "1.0.0", requires=[f"kfp=={KFP}"])
    before = datetime.now(UTC).replace(microsecond=0)
    for dist in (kfp, uv, tiny10, tiny11, old_dep, new_dep, v1, build_sdist(dists, NAME, "1.0.0"), v2, yanked,
                 pre, still):
        publish(fresh_index, dist)
    set_yanked(index, NAME, "2.1.0", "breaks imputation")
    closure1 = tuple(sorted(locked(d) for d in (kfp, tiny10, old_dep)))
    closure2 = tuple(sorted(locked(d) for d in (kfp, tiny11, new_dep)))
    push_image(oci, NAME, AMD64, labels(v1, "1.0.0", closure1), "1.0.0")
    push_image(oci, NAME, AMD64, labels(v2, "2.0.0", closure2), "2.0.0")
    push_image(oci, NAME, AMD64, labels(v2, "2.0.0", closure2, target="py313", python="3.13",
                                        implementation="cp", glibc="2.41"), "2.0.0-py313")

    # the team's repository pins 1.0.0 of the one and the only release of the other
    team = tmp_path / "team"
    subprocess.run(["git", "init", "-q", str(team)], check=True)
    lock_path = team / "pins.json"
    save_lock(lock_path, Lock().with_tool(locked(uv), AMD64))
    pinned = bump_pin(lock_path, NAME, "1.0.0", index, oci, {NAME, STILL}, KFP).pin
    assert pinned.closure == closure1 and list(pinned.targets) == ["default"]
    registries = ("--root", str(team), "--index-url", index.url, "--oci-registry", oci)
    code, out, _ = hub("pins", "bump", *registries, STILL, "1.0.0")  # as before: NAME VERSION
    assert code == 0 and out.startswith(f"{STILL} pinned to 1.0.0 sha256:"), out

    # the index's JSON page: upload times, the yank and its reason; the pre-release only with --pre
    releases = index_releases(index, NAME)
    assert [(str(r.version), r.yanked) for r in releases] == [
        ("3.0.0rc1", None), ("2.1.0", "breaks imputation"), ("2.0.0", None), ("1.0.0", None)]
    assert all(r.released_at and STAMP.fullmatch(r.released_at) for r in releases)
    assert before <= datetime.fromisoformat(releases[2].released_at or "") <= datetime.now(UTC)
    assert [str(r.version) for r in candidates(releases, "1.0.0")] == ["2.0.0"]
    assert [str(r.version) for r in candidates(releases, "1.0.0", pre=True)] == ["2.0.0", "3.0.0rc1"]
    assert project_files_json(index, "no-such-helper") == {}

    code, out, _ = hub("pins", "outdated", *registries, "--json")
    assert code == 0, out
    report = json.loads(out)
    (newer,) = report[1]["newer"]
    assert [r["name"] for r in report] == [STILL, NAME]
    assert report[0] == {"name": STILL, "pinned": "1.0.0", "latest": "1.0.0", "newer": []}
    assert (report[1]["pinned"], report[1]["latest"]) == ("1.0.0", "2.0.0")
    assert newer == {
        "version": "2.0.0", "released_at": releases[2].released_at, "major": True,
        "closure": {"default": {AMD64: {"added": [{"name": "new-dep", "version": "1.0"}],
                                        "removed": [{"name": "old-dep", "version": "1.0"}],
                                        "changed": [{"name": "tiny-dep", "from": "1.0", "to": "1.1"}]}}},
        "targets": {"added": ["py313"], "removed": []}, "problem": None,
    }
    assert load_lock(lock_path).require(NAME, fix="-").version == "1.0.0"  # a report: nothing written

    code, out, _ = hub("pins", "bump", *registries, "--all")
    assert code == 0, out
    assert out.splitlines() == [
        f"{STILL} 1.0.0: up to date",
        f"{NAME} 1.0.0 -> 2.0.0 (released {releases[2].released_at}, new major version)",
        "    + target py313 (only in 2.0.0)",
        "    + new-dep 1.0",
        "    - old-dep 1.0",
        "    tiny-dep 1.0 -> 1.1",
        f"    {NAME} 1.0.0 -> 2.0.0: 3 moved (1 changed, 1 added, 1 removed) [default {AMD64}]",
    ]
    lock = load_lock(lock_path)
    moved = lock.require(NAME, fix="-")
    assert (moved.version, list(moved.targets), moved.closure) == ("2.0.0", ["default", "py313"], closure2)
    assert moved.targets["py313"].image is not None and moved.targets["py313"].python == "3.13"
    assert lock.require(STILL, fix="-").version == "1.0.0"

    code, _, output = hub("pins", "check", "--root", str(team))
    assert code == 0 and "2 pins and" in output and "verified against the registries" in output, output
    assert check_pins(lock, download=True) == []
    # nothing newer: nothing computed
    assert outdated(lock, index, _never, [NAME]) == [PinReport(NAME, moved, (), "2.0.0")]
    code, out, _ = hub("pins", "outdated", *registries)
    assert out.splitlines() == [f"{STILL} 1.0.0: up to date", f"{NAME} 2.0.0: up to date",
                                "0 of 2 pins have newer releases"], out

    # a name the index does not have: one line, nothing written
    code, _, output = hub("pins", "bump", *registries, "--latest", "--pre", "no-such-helper")
    assert code == 1 and "no-such-helper has no release to pin in the index" in output, output
    assert load_lock(lock_path) == lock


def _never(lock: Lock, name: str, version: str) -> Bump:
    raise AssertionError(f"{name} {version} computed")


def test_the_json_page_parser_reads_yanks_and_upload_times() -> None:
    page = {"meta": {"api-version": "1.1"}, "name": "x", "files": [
        {"filename": "x-1.0-py3-none-any.whl", "url": "../../packages/x-1.0-py3-none-any.whl",
         "hashes": {"sha256": "a" * 64}, "yanked": "bad", "upload-time": "2026-01-02T03:04:05.123456Z"},
        {"filename": "x-1.0.tar.gz", "url": "../../packages/x-1.0.tar.gz", "hashes": {}, "yanked": True},
        {"filename": "x-1.1.tar.gz", "url": "https://elsewhere/x-1.1.tar.gz", "hashes": {"sha256": "b" * 64}}]}
    files = parse_json_page("http://127.0.0.1:1/simple/x/", page)
    wheel = files["x-1.0-py3-none-any.whl"]
    assert wheel.url == "http://127.0.0.1:1/packages/x-1.0-py3-none-any.whl" and wheel.sha256 == "a" * 64
    assert (wheel.yanked, wheel.upload_time) == ("bad", "2026-01-02T03:04:05.123456Z")
    assert (files["x-1.0.tar.gz"].yanked, files["x-1.0.tar.gz"].upload_time) == ("", None)
    assert (files["x-1.1.tar.gz"].yanked, files["x-1.1.tar.gz"].url) == (None, "https://elsewhere/x-1.1.tar.gz")
    with pytest.raises(KeyError):
        parse_json_page("http://127.0.0.1:1/simple/x/", {"meta": {}})


def test_candidates_leave_out_yanked_and_pre_releases_and_never_go_back() -> None:
    releases = [Release(Version(v), None, y) for v, y in
                (("2.0.0rc1", None), ("1.3.0", "bad"), ("1.2.0", None), ("1.1.0", None), ("0.9.0", None))]
    assert [str(r.version) for r in candidates(releases, "1.1.0")] == ["1.2.0"]
    assert [str(r.version) for r in candidates(releases, "1.1.0", pre=True)] == ["1.2.0", "2.0.0rc1"]
    assert candidates(releases, "1.3.0") == [] and candidates(releases, "2.0.0rc1") == []
    assert [str(r.version) for r in candidates(releases, None)][-1] == "1.2.0"  # not pinned yet: any


def test_closure_moves_per_target_as_pins_diff_prints_them() -> None:
    old = repo_lock().require("tabular-helpers", fix="-")
    first = old.closure[0]
    bumped = dataclasses.replace(first, version="9.9", filename=first.filename.replace(first.version, "9.9"),
                                 sha256="f" * 64)
    new = with_target(dataclasses.replace(old, version="2.0.0").with_closure((bumped, *old.closure[1:])),
                      "py313", "3.13", (AMD64, ARM64))
    moved = closure_moves(old, new)
    assert moved.closures == {"default": {AMD64: ((first.name, first.version, "9.9"),)}}
    assert (moved.targets_added, moved.targets_removed) == (("py313",), ())
    back = closure_moves(new, old)
    assert back.targets_removed == ("py313",) and back.closures["default"][AMD64] == ((first.name, "9.9",
                                                                                        first.version),)

    release = Release(Version("2.0.0"), "2026-01-02T03:04:05Z")
    newer = newer_release(old, release, Bump(new, {}))
    assert newer.major and newer.lines[0] == "+ target py313 (only in 2.0.0)"
    assert report_lines([PinReport(old.name, old, (newer,), "2.0.0")])[:2] == [
        "tabular-helpers 1.0.0 -> 2.0.0 (released 2026-01-02T03:04:05Z, new major version)",
        "    + target py313 (only in 2.0.0)"]
    (shown,) = report_json([PinReport(old.name, old, (newer,), "2.0.0")])[0]["newer"]
    assert shown["closure"] == {"default": {AMD64: {"added": [], "removed": [], "changed": [
        {"name": first.name, "from": first.version, "to": "9.9"}]}}}
    failed = Newer(release, True, problem="cannot reach the OCI registry")
    assert report_json([PinReport(old.name, old, (failed,), "2.0.0")])[0]["newer"][0] == {
        "version": "2.0.0", "released_at": "2026-01-02T03:04:05Z", "major": True, "closure": None,
        "targets": None, "problem": "cannot reach the OCI registry"}
    assert report_lines([PinReport(old.name, old, (failed,), "2.0.0")])[1] == (
        "    cannot be pinned: cannot reach the OCI registry")


def test_bump_all_moves_a_helper_after_those_it_depends_on() -> None:
    lock = repo_lock()
    assert dependency_order(lock, ["vision-helpers", "tabular-helpers"]) == ["tabular-helpers", "vision-helpers"]
    assert dependency_order(lock, ["vision-helpers"]) == ["vision-helpers"]


@pytest.mark.parametrize(("args", "message"), [
    (["--all", "tabular-helpers"], "--all moves every pin"),
    (["--all", "--target", "py313"], "--all moves every pin"),
    (["tabular-helpers"], "give PACKAGE VERSION, PACKAGE --latest"),
    ([], "give PACKAGE VERSION, PACKAGE --latest"),
    (["tabular-helpers", "1.0.0", "--latest"], "--latest picks the version"),
    (["tabular-helpers", "1.0.0", "--pre"], "--pre counts pre-releases"),
])
def test_bump_refuses_arguments_that_do_not_go_together(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["pins", "bump", *args])
    assert result.exit_code == 2 and message in result.output, result.output
