"""Retention: registered locks bound to their user, a policy's dry-run plan and its deletes, which
answer 410 with their reason afterwards and are logged. Real registry processes; the plan's rules
also as a pure function."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from helperhub.cli import cli
from helperhub.core.errors import ConfigError, RegistryError
from helperhub.pipelines.registration import index_pinners
from helperhub.registry.client import IndexSettings, record_release_on_index, set_yanked
from helperhub.registry.retention_client import register_references, retention_plan, unregister
from helperhub.registry.server.retention import IndexVersion, Pinned, Policy, make_plan, parse_policy
from helperhub.registry.server.tombstones import AUDIT, GONE
from tests.catalog_site import password, write_wheel
from tests.sidebyside import Server

ALICE, BOB, CAROL = "alice", "bob", "carol"  # alice owns alpha, carol is an admin
NOW = datetime(2025, 6, 1, tzinfo=UTC)
OLD = 100 * 86400  # seconds: the old releases' age


def whl(name: str, version: str) -> str:
    return f"{name}-{version}-py3-none-any.whl"


def meta(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


# -- the rules, pure ------------------------------------------------------------------------------
def test_policy_parse_refuses_in_one_line() -> None:
    assert parse_policy("[retention]\nkeep-newest = 3\nkeep-days = 30\n", "p.toml") == Policy(3, 30)
    for text, said in (("keep-newest = 3", "must hold a [retention] table"),
                       ("[retention]\nkeep-days = 3", "needs keep-newest"),
                       ("[retention]\nkeep-newest = 2\nkeep-weeks = 1", "has no key keep-weeks"),
                       ("[retention]\nkeep-newest = -1", "0 or more"),
                       ("[retention\n", "not valid TOML")):
        with pytest.raises(ConfigError, match=re.escape(said)) as caught:
            parse_policy(text, "p.toml")
        assert "\n" not in str(caught.value)


def test_plan_keep_rules_win_and_closures_keep_what_they_list() -> None:
    def rel(version: str, days: int, yanked: int | None = None, closure: frozenset[str] = frozenset()) -> IndexVersion:
        return IndexVersion("alpha", version, (whl("alpha", version),), NOW - timedelta(days=days),
                       None if yanked is None else NOW - timedelta(days=yanked), closure)

    releases = [rel("1.0", 300, closure=frozenset({whl("dep", "1")})), rel("1.1", 200),
                rel("1.2", 20), rel("1.3", 150, yanked=3), rel("1.4", 100),
                IndexVersion("beta", "2.0", (whl("beta", "2.0"),), NOW - timedelta(days=400), None,
                        frozenset({whl("alpha", "1.1"), whl("dep", "2")}))]
    mirrored = {whl("dep", "0"): ("dep", frozenset()),  # its releases were deleted by an earlier gc
                whl("dep", "1"): ("dep", frozenset({("alpha", "1.0")})),
                # the tool's own release (no helper: never judged, never deleted) lists dep 1b too
                whl("dep", "1b"): ("dep", frozenset({("alpha", "1.0"), ("helperhub", "0.2.0")})),
                whl("dep", "2"): ("dep", frozenset({("beta", "2.0")}))}
    sizes = {whl("alpha", "1.0"): 10, whl("dep", "1"): 7}
    expired = Pinned("old-team", NOW - timedelta(days=91), frozenset({("alpha", "1.0.0")}))
    plan = make_plan(Policy(keep_newest=2, keep_days=30), releases, mirrored, sizes, [expired], NOW)
    assert {d.file for d in plan.deletions} == {whl("alpha", "1.0"), whl("alpha", "1.3"), whl("dep", "0"),
                                                whl("dep", "1")}
    assert plan.bytes == 17
    assert plan.kept[("alpha", "1.1")] == "in the closure of beta 2.0"
    assert plan.kept[("alpha", "1.2")].startswith("newest")
    why = {d.file: d.reason for d in plan.deletions}
    assert why[whl("alpha", "1.3")].startswith("yanked 2025-05-29")
    assert "only by deleted releases (alpha 1.0)" in why[whl("dep", "1")]
    assert why[whl("dep", "0")].startswith("third-party, its releases were deleted earlier")
    renewed = Pinned("team", NOW - timedelta(days=1), frozenset({("alpha", "1.0.0")}),  # 1.0 is 1.0.0
                     frozenset({whl("dep", "0")}))
    kept = make_plan(Policy(2, 30, keep_yanked_days=7), releases, mirrored, sizes, [renewed], NOW)
    assert kept.deletions == ()
    assert kept.kept[("alpha", "1.0")] == "pinned by the registered lock of team"


# -- a real registry ------------------------------------------------------------------------------
def start(tmp: Path) -> Server:
    """alpha 1.0.0-1.4.0 (all but 1.4.0 released 100 days ago) and the third-party dep 1.0 and 2.0."""
    packages = tmp / "packages"
    packages.mkdir(parents=True)
    old = time.time() - OLD
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        path = write_wheel(packages, "alpha", version, meta("alpha", version))
        if version != "1.4.0":
            os.utime(path, (old, old))
    for version in ("1.0", "2.0"):
        os.utime(write_wheel(packages, "dep", version, meta("dep", version)), (old, old))
    return retention_server(tmp)


def retention_server(tmp: Path) -> Server:
    """The registry of ``tmp/packages``: alice owns alpha, carol is an admin, bob a user; its
    policy keeps the 2 newest and 30 days."""
    (tmp / "owners.toml").write_text('[owners]\n"alpha" = ["alice"]\n\n[admins]\nusers = ["carol"]\n')
    (tmp / "retention.toml").write_text("[retention]\nkeep-newest = 2\nkeep-days = 30\n")
    server = Server("helperhub", tmp, users=tuple((u, password(u)) for u in (ALICE, BOB, CAROL)),
                    options=("--owners", str(tmp / "owners.toml"), "--retention", str(tmp / "retention.toml")))
    return server.start()


def login(server: Server, user: str) -> IndexSettings:
    return IndexSettings(server.url, user, password(user))


def releases(server: Server) -> None:
    alice = login(server, ALICE)
    for version in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        dep = "1.0" if version == "1.0.0" else "2.0"
        record = {"pin": {"version": version, "wheel": whl("alpha", version)}, "mirrored": [whl("dep", dep)]}
        record_release_on_index(alice, "alpha", version, record)
    set_yanked(alice, "alpha", "1.3.0", "broken")


def planned(plan: dict[str, object]) -> set[str]:
    return {d["file"] for d in plan["delete"]}  # type: ignore[attr-defined,index]


def test_registered_locks_are_bound_to_their_user_and_expire(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        releases(server)
        bob, alice, carol = login(server, BOB), login(server, ALICE), login(server, CAROL)
        refs = {"helpers": {"alpha": "1.1.0"}, "files": {}, "images": []}
        assert register_references(bob, "team-b", refs).startswith("team-b registered: 1 helpers")
        with pytest.raises(RegistryError, match=r"\(403\).*belongs to bob"):
            register_references(alice, "team-b", {"helpers": {}})
        with pytest.raises(RegistryError, match=r"\(403\).*belongs to bob"):
            unregister(alice, "team-b")
        with pytest.raises(RegistryError, match=r"\(400\).*not an image by digest"):
            register_references(bob, "team-c", {"images": ["alpha:latest"]})
        assert index_pinners(alice) == {("alpha", "1.1.0"): ["team-b"]}
        plan = retention_plan(carol)
        assert whl("alpha", "1.1.0") not in planned(plan)
        with pytest.raises(RegistryError, match=r"\(403\).*no admin"):
            retention_plan(bob)
        # not renewed within register-days (90): it stops protecting, and who-pins leaves it out
        stored = next((tmp_path / "packages" / ".registrations").glob("*.json"))
        record = json.loads(stored.read_text())
        record["registered_at"] = "2020-01-01T00:00:00.000000Z"
        stored.write_text(json.dumps(record))
        assert whl("alpha", "1.1.0") in planned(retention_plan(carol))
        assert index_pinners(alice) == {}
        assert register_references(bob, "team-b", refs).startswith("team-b renewed")  # renewing protects again
        assert whl("alpha", "1.1.0") not in planned(retention_plan(carol))
        assert register_references(carol, "team-b", refs).startswith("team-b renewed")  # an admin may
        assert json.loads(stored.read_text())["user"] == BOB  # and it stays bob's
        assert unregister(carol, "team-b") == "team-b unregistered"
        with pytest.raises(RegistryError, match=r"\(404\).*no registration is named team-b"):
            unregister(bob, "team-b")
    finally:
        server.kill()


def test_gc_plans_exactly_then_deletes_exactly_the_plan(tmp_path: Path) -> None:
    server = start(tmp_path)
    packages = tmp_path / "packages"
    try:
        releases(server)
        carol = login(server, CAROL)
        register_references(login(server, BOB), "team-b", {"helpers": {"alpha": "1.1.0"}})
        before = {p.name for p in packages.iterdir()}
        plan = retention_plan(carol)
        # newest two unyanked: 1.4.0, 1.2.0; 1.1.0 registered; 1.3.0 yanked (today, no keep-yanked-days);
        # 1.0.0 old; dep 1.0 listed only by 1.0.0's record
        assert planned(plan) == {whl("alpha", "1.0.0"), whl("alpha", "1.3.0"), whl("dep", "1.0")}
        assert plan["applied"] is False and {p.name for p in packages.iterdir()} == before  # a dry run
        assert plan["bytes"] == sum((packages / f).stat().st_size for f in planned(plan))
        why = {d["file"]: d["reason"] for d in plan["delete"]}
        assert why[whl("alpha", "1.0.0")].startswith("not among the 2 newest; released ")
        assert "over 30 days ago" in why[whl("alpha", "1.0.0")]
        kept = {(k["project"], k["version"]): k["why"] for k in plan["kept"]}
        assert kept[("alpha", "1.1.0")] == "pinned by the registered lock of team-b"
        # a policy given for the run: keep yanked versions a week
        week = retention_plan(carol, "[retention]\nkeep-newest = 2\nkeep-days = 30\nkeep-yanked-days = 7\n")
        assert planned(week) == {whl("alpha", "1.0.0"), whl("dep", "1.0")}
        with pytest.raises(RegistryError, match=r"\(400\).*needs keep-newest"):
            retention_plan(carol, "[retention]\nkeep-days = 3\n")

        used = sum(p.stat().st_size for p in packages.iterdir() if p.is_file() and p.suffix == ".whl")
        applied = retention_plan(carol, apply=True)
        assert applied["applied"] is True and planned(applied) == planned(plan)
        assert {p.name for p in packages.iterdir()} == (before - planned(plan)) | {GONE, AUDIT}
        assert used - sum(p.stat().st_size for p in packages.iterdir() if p.suffix == ".whl") == plan["bytes"]
        assert not (packages / ".metadata" / f"{whl('alpha', '1.0.0')}.metadata").exists()
        gone = requests.get(f"{server.url}/packages/{whl('alpha', '1.0.0')}", timeout=10)
        assert gone.status_code == 410 and "not among the 2 newest" in gone.text
        meta_gone = requests.get(f"{server.url}/packages/{whl('alpha', '1.0.0')}.metadata", timeout=10)
        assert meta_gone.status_code == 410
        assert requests.get(f"{server.url}/packages/{whl('alpha', '1.1.0')}", timeout=10).status_code == 200
        assert set(server.listed("alpha")) == {whl("alpha", v) for v in ("1.1.0", "1.2.0", "1.4.0")}
        assert set(server.listed("dep")) == {whl("dep", "2.0")}
        assert requests.get(f"{server.url}/helpers/alpha/1.0.0/release.json", timeout=10).status_code == 404
        page = requests.get(f"{server.url}/helpers/alpha/", timeout=10).text  # the catalog follows
        assert whl("alpha", "1.1.0") in page and whl("alpha", "1.0.0") not in page and "1.3.0" not in page
        audit = [json.loads(line) for line in (packages / AUDIT).read_text().splitlines()]
        assert sorted(a["file"] for a in audit) == sorted(planned(plan)) and {a["by"] for a in audit} == {CAROL}
        assert set(json.loads((packages / GONE).read_text())) == planned(plan)
        refused = requests.post(f"{server.url}/", data={":action": "file_upload", "protocol_version": "1"},
                                files={"content": (whl("alpha", "1.0.0"), b"PK")},
                                auth=(ALICE, password(ALICE)), timeout=10)
        assert refused.status_code == 409 and "never used again" in refused.text
        assert planned(retention_plan(carol)) == set()  # nothing left to do
        server.stop()
        server.start()  # deletes hold across a restart
        assert requests.get(f"{server.url}/packages/{whl('dep', '1.0')}", timeout=10).status_code == 410
        assert set(server.listed("alpha")) == {whl("alpha", v) for v in ("1.1.0", "1.2.0", "1.4.0")}
        assert planned(retention_plan(carol)) == set()
    finally:
        server.kill()


def test_a_delete_cut_short_is_finished_at_start(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    name = whl("alpha", "1.0.0")
    write_wheel(packages, "alpha", "1.0.0", meta("alpha", "1.0.0"))
    write_wheel(packages, "alpha", "1.1.0", meta("alpha", "1.1.0"))
    # its record (stored as 1.0, one spelling of 1.0.0) and SBOM stayed too; 0.9.0 was deleted whole
    # long ago, and a release recorded that version again since: its record is no leftover
    for version in ("1.0", "1.1.0", "0.9.0"):
        (packages / ".releases" / "alpha").mkdir(parents=True, exist_ok=True)
        (packages / ".releases" / "alpha" / f"{version}.json").write_text('{"pin": {}}')
        (packages / ".attestations" / "helpers" / "alpha" / version).mkdir(parents=True)
    (packages / GONE).write_text(json.dumps({n: {
        "project": "alpha", "version": v, "reason": "old", "deleted_at": "2025-01-01T00:00:00.000000Z",
        "by": "carol", "size": 1} for n, v in ((name, "1.0.0"), (whl("alpha", "0.9.0"), "0.9.0"))}))
    server = Server("helperhub", tmp_path).start()
    try:
        assert not (packages / name).exists()
        assert set(server.listed("alpha")) == {whl("alpha", "1.1.0")}
        assert requests.get(f"{server.url}/packages/{name}", timeout=10).status_code == 410
        assert sorted(p.name for p in (packages / ".releases" / "alpha").iterdir()) == ["0.9.0.json", "1.1.0.json"]
        assert sorted(p.name for p in (packages / ".attestations" / "helpers" / "alpha").iterdir()) == [
            "0.9.0", "1.1.0"]
    finally:
        server.kill()


def test_registry_gc_command_prints_the_plan(tmp_path: Path) -> None:
    server = start(tmp_path)
    try:
        releases(server)
        env = {"HUB_INDEX_PASSWORD": password(CAROL)}
        args = ["registry", "gc", "--index-url", server.url, "--user", CAROL]
        out = CliRunner().invoke(cli, args, env=env)
        assert out.exit_code == 0, out.output
        assert f"{whl('alpha', '1.0.0')}" in out.output and "dry run" in out.output
        assert (tmp_path / "packages" / whl("alpha", "1.0.0")).exists()
        bad = tmp_path / "bad.toml"
        bad.write_text("[retention]\nkeep-days = 1\n")
        out = CliRunner().invoke(cli, [*args, "--retention", str(bad)], env=env)
        assert out.exit_code != 0 and "needs keep-newest" in out.output
    finally:
        server.kill()
