"""Retention at the size of a busy registry: 5 helpers of 40 versions each (wheel and sdist), their
closures of shared third-party files and of each other's wheels, a few yanks, releases spread over
400 days and three locks registered by three users. The dry run changes nothing; ``gc --apply``
deletes exactly the plan, the planned bytes leave the disk, every deleted file answers 410, and
every registered lock still passes ``pins check --download``. One real registry process, built
once for the module; the expected plan is worked out here from the generated releases."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result

from helperhub.cli import cli
from helperhub.core import defaults
from helperhub.core.targets import default_facts
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, PackagePin, save_lock
from helperhub.lock.target_pins import TargetPin
from helperhub.registry.client import IndexSettings, index_helpers, record_release_on_index, set_yanked
from helperhub.registry.retention_client import retention_plan
from helperhub.registry.server.stamps import STAMPS_FILE
from helperhub.release.records import tool_record
from tests.catalog_site import password, write_sdist, write_wheel
from tests.sidebyside import Server

DAY = 86400
VERSIONS = 40  # per helper: 1.0.0 ... 1.39.0
NEWEST_AGE = {"hub-a": 2, "hub-b": 20, "hub-c": 45, "hub-d": 150, "hub-e": 400}  # days since the newest release
SPACING = 5  # days between two releases of a helper; ages are N.5 days, never at a keep-days boundary
THIRD_PARTY = ("tp-one", "tp-two", "tp-three", "tp-four", "tp-five")  # each at 1.0 ... 5.0
USES = {"hub-a": ("tp-one", "tp-two"), "hub-b": ("tp-two", "tp-three"), "hub-c": ("tp-three", "tp-four"),
        "hub-d": ("tp-four", "tp-five"), "hub-e": ("tp-five", "tp-one")}
SHARED = 8  # helper version k locks third-party version k // SHARED + 1: 8 versions of 2 helpers share a file
DEPENDS = {"hub-c": ("hub-a", 4), "hub-e": ("hub-d", 2)}  # version k's closure holds the other's k // N wheel
YANKED = {("hub-a", 39), ("hub-b", 10), ("hub-c", 38), ("hub-d", 5), ("hub-e", 30)}
NEVER_LISTED = "tp_unlisted-1.0-py3-none-any.whl"  # mirrored by no record: never retention's to delete
TOOL = ("helperhub", "0.2.0", "tp-two")  # the tool's own release mirrored every tp-two: none of them goes
KEEP_NEWEST, KEEP_DAYS = 3, 30
POLICY = f"[retention]\nkeep-newest = {KEEP_NEWEST}\nkeep-days = {KEEP_DAYS}\n"
LOCKS = {  # registered lock -> its user and the helper versions it pins
    "team-one": ("bob", {"hub-c": 2, "hub-d": 3}),
    "team-two": ("dave", {"hub-e": 4, "hub-b": 10}),  # hub-b 1.10.0 is yanked: pins check warns, passes
    "team-three": ("alice", {"hub-a": 1, "hub-b": 5, "hub-e": 20}),
}
BUMPED = ("team-three", "hub-b", 25)  # a pin bumped later: its closure has the third-party files of 1.25.0
# which no kept release lists (only this registered lock keeps them)
UNREGISTERED = {"hub-d": 0}  # a lock nobody registered: retention may delete what it pins
ADMIN = "carol"


def version(k: int) -> str:
    return f"1.{k}.0"


def whl(name: str, v: str) -> str:
    return f"{name.replace('-', '_')}-{v}-py3-none-any.whl"


def sdist(name: str, v: str) -> str:
    return f"{name.replace('-', '_')}-{v}.tar.gz"


def tp_version(k: int) -> str:
    return f"{k // SHARED + 1}.0"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class World:
    """The registry and what was seen of it, in order: built, planned (a dry run), applied, restarted."""

    server: Server
    tmp: Path
    pins: dict[tuple[str, int], PackagePin] = field(default_factory=dict)  # as each release recorded it
    locks: dict[str, Lock] = field(default_factory=dict)  # the repositories' pins.json, registered or not
    tree: list[dict[str, str]] = field(default_factory=list)  # the package folder before, after the dry run
    plan: dict[str, Any] = field(default_factory=dict)
    applied: dict[str, Any] = field(default_factory=dict)
    used: list[int] = field(default_factory=list)  # bytes of distribution files before and after the apply
    files: list[set[str]] = field(default_factory=list)  # distribution files before and after the apply
    helpers: list[set[str] | None] = field(default_factory=list)  # the index's helpers: before, after a restart
    replanned: dict[str, Any] = field(default_factory=dict)  # the plan after the apply and a restart

    @property
    def packages(self) -> Path:
        return self.server.packages

    def login(self, user: str) -> list[str]:
        return ["--index-url", self.server.url, "--user", user]


def hub(user: str, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"HUB_INDEX_PASSWORD": password(user)})


def meta(name: str, v: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {v}\nSummary: {name} at {v}\n".encode()


def write_files(packages: Path) -> dict[str, str]:
    """Every distribution file, helpers' with their release's upload time; file name -> sha256."""
    now = time.time()
    digests = {}
    for name, newest in NEWEST_AGE.items():
        for k in range(VERSIONS):
            moment = now - (newest + SPACING * (VERSIONS - 1 - k) + 0.5) * DAY
            for path in (write_wheel(packages, name, version(k), meta(name, version(k))),
                         write_sdist(packages, name, version(k), meta(name, version(k)))):
                os.utime(path, (moment, moment))
                digests[path.name] = sha(path)
    for name in THIRD_PARTY:
        for j in range(1, 6):
            path = write_wheel(packages, name, f"{j}.0", meta(name, f"{j}.0"))
            digests[path.name] = sha(path)
    write_wheel(packages, "tp-unlisted", "1.0", meta("tp-unlisted", "1.0"))
    tool = write_wheel(packages, TOOL[0], TOOL[1], meta(TOOL[0], TOOL[1]))
    digests[tool.name] = sha(tool)
    # records began with only tp-unlisted third-party: the others came as the releases' mirrored files
    (packages / ".releases").mkdir()
    (packages / ".releases" / ".third-party.json").write_text('["tp-unlisted"]\n')
    return digests


def make_pin(url: str, digests: dict[str, str], name: str, k: int, resolved: int | None = None) -> PackagePin:
    """The lock entry of helper ``name`` version k: its closure is its own wheel, the wheel of the
    helper it depends on and its third-party files (those of version ``resolved``, if given)."""
    v, t = version(k), tp_version(k if resolved is None else resolved)
    closure = [LockedFile(name, v, whl(name, v), digests[whl(name, v)])]
    if name in DEPENDS:
        other, every = DEPENDS[name]
        closure.append(LockedFile(other, version(k // every), whl(other, version(k // every)),
                                  digests[whl(other, version(k // every))]))
    closure += [LockedFile(tp, t, whl(tp, t), digests[whl(tp, t)]) for tp in USES[name]]
    target = TargetPin.of(default_facts(), closure={defaults.TARGET_PLATFORM: tuple(sorted(closure))})
    return PackagePin(name=name, version=v, wheel=whl(name, v), sha256=digests[whl(name, v)],
                      url=f"{url}/packages/{whl(name, v)}", index_url=url, kfp_version="2.9.0", commit="",
                      released_at="2025-01-01T00:00:00Z", sdist=sdist(name, v),
                      sdist_sha256=digests[sdist(name, v)], requires=USES[name],
                      depends=(DEPENDS[name][0],) if name in DEPENDS else (),
                      targets={defaults.TARGET_NAME: target})


def write_lock(world: World, name: str, lock: Lock) -> Path:
    """A repository (a git checkout) with ``lock`` as its pins.json."""
    repo = world.tmp / "repos" / name
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    save_lock(repo / defaults.LOCK_NAME, lock)
    world.locks[name] = lock
    return repo


def lock_files(lock: Lock) -> set[str]:
    """Every file a lock pins: each helper's wheel and sdist and its closure."""
    return {f for pin in lock.packages.values() for f in (pin.sdist, *(c.filename for c in pin.closure))}


def tree(packages: Path) -> dict[str, str]:
    """Every file under the package folder (hidden state too) -> its sha256; but the catalog's page
    stamps, which it saves on a timer after the releases' pages (stamps.py), whatever gc does."""
    return {str(p.relative_to(packages)): sha(p) for p in sorted(packages.rglob("*"))
            if p.is_file() and p.name != STAMPS_FILE}


def distributions(packages: Path) -> dict[str, int]:
    """The distribution files (what a plan's bytes count) -> their size."""
    return {p.name: p.stat().st_size for p in packages.iterdir() if p.is_file() and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("scale")
    users = ("alice", "bob", "dave", ADMIN)
    (tmp / "owners.toml").write_text("[owners]\n" + "".join(f'"{h}" = ["alice"]\n' for h in (*NEWEST_AGE, TOOL[0]))
                                     + f'\n[admins]\nusers = ["{ADMIN}"]\n')
    (tmp / "retention.toml").write_text(POLICY)
    server = Server("helperhub", tmp, users=tuple((u, password(u)) for u in users),
                    options=("--owners", str(tmp / "owners.toml"), "--retention", str(tmp / "retention.toml")))
    world = World(server, tmp)
    digests = write_files(server.packages)
    world.pins = {(h, k): make_pin(server.url, digests, h, k) for h in NEWEST_AGE for k in range(VERSIONS)}
    locks = {name: Lock({h: world.pins[(h, k)] for h, k in pinned.items()}) for name, (_, pinned) in LOCKS.items()}
    lock, helper, resolved = BUMPED
    locks[lock] = locks[lock].with_pin(make_pin(server.url, digests, helper, LOCKS[lock][1][helper], resolved))
    server.start()
    try:
        alice = IndexSettings(server.url, "alice", password("alice"))
        for pin in world.pins.values():
            mirrored = sorted(f.filename for f in pin.closure if f.name in THIRD_PARTY)
            record_release_on_index(alice, pin.name, pin.version, {"pin": pin.to_json(), "mirrored": mirrored})
        tool, tool_version, _ = TOOL
        record_release_on_index(alice, tool, tool_version, tool_record(
            tool_version, whl(tool, tool_version), digests[whl(tool, tool_version)], tool_listed()))
        for name, k in sorted(YANKED):
            set_yanked(alice, name, version(k), "broken")
        world.helpers.append(index_helpers(alice))
        for lock, (user, _) in LOCKS.items():
            done = hub(user, "pins", "register", "--root", str(write_lock(world, lock, locks[lock])), "--name", lock,
                       *world.login(user))
            assert done.exit_code == 0 and f"{lock} registered" in done.output, done.output
        write_lock(world, "team-gone", Lock({h: world.pins[(h, k)] for h, k in UNREGISTERED.items()}))

        gc = [*world.login(ADMIN), "--retention", str(tmp / "retention.toml"), "--json"]
        world.tree.append(tree(world.packages))
        dry = hub(ADMIN, "registry", "gc", *gc)
        assert dry.exit_code == 0, dry.output
        world.plan = json.loads(dry.stdout)
        world.tree.append(tree(world.packages))

        before = distributions(world.packages)
        applied = hub(ADMIN, "registry", "gc", *gc, "--apply")
        assert applied.exit_code == 0, applied.output
        world.applied = json.loads(applied.stdout)
        after = distributions(world.packages)
        world.used, world.files = [sum(before.values()), sum(after.values())], [set(before), set(after)]
        server.stop()
        server.start()  # what follows is served by a registry that read the folder anew
        world.helpers.append(index_helpers(alice))
        world.replanned = retention_plan(IndexSettings(server.url, ADMIN, password(ADMIN)))
        yield world
    finally:
        server.kill()


def expected_deletions(world: World) -> set[str]:
    """The plan by the policy's rules, worked out from what this module generated."""
    kept: set[tuple[str, int]] = set()
    for name, newest in NEWEST_AGE.items():
        unyanked = [k for k in reversed(range(VERSIONS)) if (name, k) not in YANKED]
        kept |= {(name, k) for k in unyanked[:KEEP_NEWEST]}
        kept |= {(name, k) for k in range(VERSIONS) if newest + SPACING * (VERSIONS - 1 - k) + 0.5 <= KEEP_DAYS}
    registered = {f for name in LOCKS for f in lock_files(world.locks[name])}
    kept |= {(h, k) for h in NEWEST_AGE for k in range(VERSIONS) if whl(h, version(k)) in registered}
    todo = list(kept)
    while todo:  # a kept release keeps the helper wheels of its closure
        name, k = todo.pop()
        if name in DEPENDS and (dep := (DEPENDS[name][0], k // DEPENDS[name][1])) not in kept:
            kept.add(dep)
            todo.append(dep)
    gone = {f for h in NEWEST_AGE for k in range(VERSIONS) if (h, k) not in kept
            for f in (whl(h, version(k)), sdist(h, version(k)))}
    listed = {whl(tp, tp_version(k)) for h, k in kept for tp in USES[h]} | registered  # by kept records, locks
    return gone | ({whl(tp, f"{j}.0") for tp in THIRD_PARTY for j in range(1, 6)} - listed - tool_listed())


def tool_listed() -> set[str]:
    return {whl(TOOL[2], f"{j}.0") for j in range(1, 6)}


def planned(plan: dict[str, Any]) -> set[str]:
    return {d["file"] for d in plan["delete"]}


def test_the_dry_run_plans_by_the_rules_and_changes_nothing(world: World) -> None:
    plan = world.plan
    assert plan["applied"] is False and plan["registrations"] == len(LOCKS)
    assert planned(plan) == expected_deletions(world)
    assert len(plan["delete"]) == len(planned(plan))  # no file twice
    assert world.tree[1] == world.tree[0]  # not a byte of the folder changed, hidden state included
    lock, helper, _ = BUMPED
    bumped = {f.filename for f in world.locks[lock].packages[helper].closure} - {
        f.filename for f in world.pins[(helper, LOCKS[lock][1][helper])].closure}
    assert bumped and not bumped & planned(plan)  # kept by that registered lock alone
    assert plan["bytes"] == sum(d["bytes"] for d in plan["delete"]) > 0
    kinds = {d["project"] for d in plan["delete"]}
    assert set(NEWEST_AGE) <= kinds and set(THIRD_PARTY) & kinds  # helpers and third-party files both go


def test_apply_deletes_exactly_the_plan_and_its_bytes(world: World) -> None:
    assert world.applied["applied"] is True and world.applied["delete"] == world.plan["delete"]
    before, after = world.files
    assert before - after == planned(world.plan) and after <= before
    assert world.used[0] - world.used[1] == world.plan["bytes"]
    assert not any((world.packages / ".metadata" / f"{f}.metadata").exists() for f in planned(world.plan))
    assert NEVER_LISTED in after  # mirrored by no record: not retention's


def test_after_a_restart_the_deletes_hold_and_mirrored_projects_stay_third_party(world: World) -> None:
    # the third-party files a registered lock keeps outlived every release that listed them
    assert world.helpers == [set(NEWEST_AGE), set(NEWEST_AGE)]
    assert world.replanned["delete"] == [] and world.replanned["bytes"] == 0


def test_deleted_files_answer_gone_and_kept_versions_are_served(world: World) -> None:
    with requests.Session() as session:
        for name in sorted(planned(world.plan)):
            answer = session.get(f"{world.server.url}/packages/{name}", timeout=10)
            assert answer.status_code == 410, name
            assert "by retention" in answer.text
        for name in NEWEST_AGE:
            listed = world.server.listed(name)
            assert len({k for k in range(VERSIONS) if whl(name, version(k)) in listed}) >= KEEP_NEWEST, name
            assert not set(listed) & planned(world.plan)
            assert set(listed) == {f for f in world.files[1] if f.startswith(name.replace("-", "_") + "-")}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_every_registered_lock_still_passes_pins_check_download(world: World, lock: str) -> None:
    pinned = world.locks[lock]
    assert lock_files(pinned) <= world.files[1]
    checked = hub(LOCKS[lock][0], "pins", "check", "--download", "--root", str(world.tmp / "repos" / lock))
    assert checked.exit_code == 0, checked.output
    closure = {f.filename for pin in pinned.packages.values() for f in pin.closure}
    assert f"{len(pinned.packages)} pins and {len(closure)} closure files (listed and downloaded)" in checked.output


def test_an_unregistered_lock_of_deleted_versions_fails_pins_check(world: World) -> None:
    checked = hub("alice", "pins", "check", "--download", "--root", str(world.tmp / "repos" / "team-gone"))
    assert checked.exit_code != 0 and "is not in the index" in checked.output, checked.output



def test_files_a_lock_alone_kept_go_once_it_is_unregistered(world: World) -> None:
    """Runs last: it unregisters a lock for a dry run and registers it again."""
    lock, helper, _ = BUMPED
    bumped = {f.filename for f in world.locks[lock].packages[helper].closure} - {
        f.filename for f in world.pins[(helper, LOCKS[lock][1][helper])].closure} - tool_listed()
    user, root = LOCKS[lock][0], str(world.tmp / "repos" / lock)
    done = hub(user, "pins", "unregister", "--root", root, "--name", lock, *world.login(user))
    assert done.exit_code == 0, done.output
    try:
        plan = retention_plan(IndexSettings(world.server.url, ADMIN, password(ADMIN)))
        why = {d["file"]: d["reason"] for d in plan["delete"]}
        assert bumped <= set(why)  # every release that listed them went at the apply
        assert all(why[f].startswith("third-party, its releases were deleted earlier") for f in bumped)
    finally:
        again = hub(user, "pins", "register", "--root", root, "--name", lock, *world.login(user))
        assert again.exit_code == 0, again.output
