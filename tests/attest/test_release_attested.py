"""A signed release against the real index and OCI registry: the session's release with images,
released again with a key (a no-op for wheels and images, which attests them), then verified the
way a consumer repository's `pins bump` and `pins check --verify` do, and refused after each
tampering."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from helperhub.cli import cli
from helperhub.core.errors import IntegrityError
from helperhub.core.progress import Silent
from helperhub.core.signing import SigningKey, new_key
from helperhub.images import registry_api
from helperhub.images.referrers import PROVENANCE_ARTIFACT, SBOM_ARTIFACT, artifact_document, referrers, referrers_tag
from helperhub.images.stage import ImageSettings
from helperhub.lock.lockfile import Lock, PackagePin, load_lock, save_lock
from helperhub.lock.target_pins import ImagePin
from helperhub.pipelines.pins import bump_pin
from helperhub.pipelines.verify import Trust, Unsigned, bump_verifier, verify_lock, verify_pin
from helperhub.registry.client import fetch_document, provenance_url, sbom_url
from helperhub.release.resolve import resolve_closure
from helperhub.release.run import ImageStage, release
from helperhub.release.sbom import python_components, target_files
from tests.conftest import ReleasedRepo, copy_repo, git, release_settings, start_index
from tests.indexclients import build_wheel

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class Attested:
    root: Path
    lock: Lock
    key: SigningKey
    released: ReleasedRepo

    @property
    def trust(self) -> Trust:
        return Trust((("*", self.key.public),))


def _release(repo: ReleasedRepo, root: Path, key: SigningKey, client: Any) -> None:
    stage = ImageStage(ImageSettings(repo.oci, repo.base_image, repo.index.settings), client)
    release(release_settings(root, repo.index.settings), [], Silent(), stage, key)


@pytest.fixture(scope="session")
def attested(released_all: ReleasedRepo, tmp_path_factory: pytest.TempPathFactory, client: Any) -> Attested:
    root = copy_repo(released_all.root, tmp_path_factory.mktemp("attested") / "repo")
    key = new_key(tmp_path_factory.mktemp("keys") / "signing-key.pem")
    _release(released_all, root, key, client)
    return Attested(root, load_lock(root / "pins.json"), key, released_all)


def _tags(attested: Attested) -> dict[str, str]:
    tags = {}
    for pin in attested.lock.packages.values():
        for target in pin.targets.values():
            assert target.image is not None
            repository, _, digest = target.image.ref.partition("@")
            found = registry_api.get_manifest(f"{repository}:{referrers_tag(digest)}")
            assert found is not None
            tags[target.image.ref] = registry_api.digest_of(found[1])
    return tags


def test_a_release_attests_every_file_and_target_and_a_second_changes_nothing(
    attested: Attested, client: Any
) -> None:
    for pin in attested.lock.packages.values():
        index = attested.released.index.settings
        for filename in (pin.wheel, pin.sdist):
            assert fetch_document(index, provenance_url(pin.url.replace(pin.wheel, filename))) is not None
        for name, target in pin.targets.items():
            assert target.image is not None
            repository, _, digest = target.image.ref.partition("@")
            (sbom_ref,) = referrers(repository, digest, SBOM_ARTIFACT)
            assert len(referrers(repository, digest, PROVENANCE_ARTIFACT)) == 1
            sbom = artifact_document(repository, sbom_ref.digest, digest)
            # served by the index too
            assert fetch_document(index, sbom_url(index, pin.name, pin.version, name)) == sbom
            assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(sbom.decode()) is None
            assert python_components(sbom) == {n: f.sha256 for n, (f, _) in target_files(pin, name).items()}
            data = json.loads(sbom)
            debs = {c["name"] for c in data["components"] if c["purl"].startswith("pkg:deb/")}
            assert {"libc6", "base-files"} <= debs  # the base's dpkg status
            licensed = [c for c in data["components"] if c.get("licenses")]
            assert len(licensed) > len(pin.closure) // 2  # from each file's own metadata
    before = (attested.root / "pins.json").read_bytes(), _tags(attested)
    _release(attested.released, attested.root, attested.key, client)
    assert ((attested.root / "pins.json").read_bytes(), _tags(attested)) == before


def test_signatures_verify_and_fail_after_each_tampering(attested: Attested, oci: str, tmp_path: Path) -> None:
    tabular, vision = (attested.lock.require(n, fix="-") for n in ("tabular-helpers", "vision-helpers"))
    for pin in (tabular, vision):
        verify_pin(pin, attested.trust)
    assert list(verify_lock(attested.lock, attested.trust)) == []
    # a key nobody trusts
    other = new_key(tmp_path / "other.pem")
    with pytest.raises(IntegrityError, match="signed by an unknown key"):
        verify_pin(tabular, Trust((("*", other.public),)))
    with pytest.raises(IntegrityError, match="no trusted key for tabular-helpers"):
        verify_pin(tabular, Trust((("vision-*", attested.key.public),)))
    # a wheel with other bytes than the ones signed
    with pytest.raises(IntegrityError, match=r"its provenance signed [0-9a-f]{64}"):
        verify_pin(replace(tabular, sha256="0" * 64), attested.trust)
    # the lock's image digest swapped for another (signed) image's
    swapped = _with_image(tabular, vision.targets["default"].image)
    with pytest.raises(IntegrityError, match=r"its provenance is about vision-helpers 1\.0\.0"):
        verify_pin(swapped, attested.trust)
    # an image re-pushed under the release's tag: what the tag names now has no provenance
    image = tabular.targets["default"].image
    assert image is not None
    repushed = _push(oci, image.tag.rpartition("/")[2].replace(":", ":tampered-"))
    tampered = _with_image(tabular, replace(image, ref=f"{image.ref.partition('@')[0]}@{repushed}"))
    with pytest.raises(Unsigned, match="has no provenance attached"):
        verify_pin(tampered, attested.trust)
    problems = dict(verify_lock(attested.lock.with_pin(tampered), attested.trust))
    assert list(problems) == ["tabular-helpers"] and "\n" not in problems["tabular-helpers"]
    assert list(verify_lock(attested.lock.with_pin(tampered), attested.trust, allow_unsigned=True)) == []


def _with_image(pin: PackagePin, image: ImagePin | None) -> PackagePin:
    return replace(pin, targets={**pin.targets, "default": replace(pin.targets["default"], image=image)})


def _push(oci: str, name_tag: str) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    buf.seek(0)
    return registry_api.push_rootfs(f"{oci}/{name_tag}", "amd64", buf)


def test_a_consumer_repository_verifies_what_it_bumps(attested: Attested, tmp_path: Path) -> None:
    repo = tmp_path / "team"
    repo.mkdir()
    git(repo, "init", "-q")
    lock_path = repo / "pins.json"
    save_lock(lock_path, attested.lock)  # the releasing repository's lock: closures kept, nothing resolved
    (repo / "pyproject.toml").write_text(
        f'[tool.helperhub.trusted-keys]\n"*-helpers" = "{attested.key.public.text}"\n')
    index, oci = attested.released.index.settings, attested.released.oci
    pin = bump_pin(lock_path, "tabular-helpers", "1.0.0", index, oci, {"tabular-helpers", "vision-helpers"},
                   attested.lock.require("tabular-helpers", fix="-").kfp_version, verify=bump_verifier(repo)).pin
    assert pin.image == attested.lock.require("tabular-helpers", fix="-").image
    runner = CliRunner()
    checked = runner.invoke(cli, ["pins", "check", "--verify", "--root", str(repo)], catch_exceptions=False)
    assert checked.exit_code == 0 and "provenance verified" in checked.output, checked.output
    shown = runner.invoke(cli, ["sbom", "tabular-helpers", "--root", str(repo)], catch_exceptions=False)
    assert shown.exit_code == 0 and json.loads(shown.output)["metadata"]["component"]["name"] == "tabular-helpers"
    # another team's key: refused in one line, the lock as it was
    other = new_key(tmp_path / "other.pem")
    (repo / "pyproject.toml").write_text(f'[tool.helperhub.trusted-keys]\n"*" = "{other.public.text}"\n')
    before = lock_path.read_bytes()
    with pytest.raises(IntegrityError, match="signed by an unknown key"):
        bump_pin(lock_path, "tabular-helpers", "1.0.0", index, oci, {"tabular-helpers", "vision-helpers"},
                 pin.kfp_version, verify=bump_verifier(repo))
    assert lock_path.read_bytes() == before
    failed = runner.invoke(cli, ["pins", "check", "--verify", "--root", str(repo)])
    assert failed.exit_code == 1 and "signed by an unknown key" in failed.output


def test_a_team_pins_what_was_released_after_the_index_moved(attested: Attested, tmp_path: Path) -> None:
    """A release, then another release mirrors a newer version of a shared dependency: a team's
    bump takes the closure the release recorded (signed), byte for byte, not a fresh resolution;
    in a plain folder (a CI workspace unpacked from an archive), not a git checkout."""
    moved_root = tmp_path / "moved"
    shutil.copytree(attested.released.index.packages, moved_root / "packages", symlinks=True)
    moved = start_index(moved_root)  # a copy of the session's index: moving it harms no other test
    try:
        released = attested.lock.require("tabular-helpers", fix="-")
        shared = next(f for f in released.closure if f.name == "threadpoolctl")  # scikit-learn's, unbounded
        newer = build_wheel(tmp_path / "dists", shared.name, "999.0.0")
        resp = requests.post(moved.settings.upload_url, data={":action": "file_upload", "protocol_version": "1"},
                             files={"content": (newer.name, newer.path.read_bytes())},
                             auth=(moved.settings.username or "", moved.settings.password or ""), timeout=60)
        assert resp.status_code == 200, resp.text
        extras = sorted({e for f in released.closure for e in f.extras})
        today = resolve_closure(moved.settings, released.name, released.version, extras, released.kfp_version)
        assert any(f.name == shared.name and f.version == "999.0.0" for f in today)  # the index moved

        team = tmp_path / "team"
        team.mkdir()
        args = ["pins", "bump", "tabular-helpers", released.version, "--root", str(team),
                "--index-url", moved.settings.url, "--oci-registry", attested.released.oci]
        runner = CliRunner()
        untrusted = runner.invoke(cli, args, catch_exceptions=False)
        assert untrusted.exit_code == 0, untrusted.output
        assert "[tool.helperhub.trusted-keys]" in untrusted.output and "helperhub keys show" in untrusted.output
        (team / "pins.json").unlink()
        (team / "pyproject.toml").write_text(
            f'[tool.helperhub.trusted-keys]\n"*-helpers" = "{attested.key.public.text}"\n')
        bumped = runner.invoke(cli, args, catch_exceptions=False)
        assert bumped.exit_code == 0, bumped.output
        pin = load_lock(team / "pins.json").require("tabular-helpers", fix="-")
        assert {n: t.to_json() for n, t in pin.targets.items()} == {
            n: t.to_json() for n, t in released.targets.items()}
        assert pin.url.startswith(moved.settings.url)  # served by the index the team reaches

        # a closure that names another file of the index than the release signed is refused
        other = replace(shared, version="999.0.0", filename=newer.name, sha256=newer.sha256)
        swapped = replace(pin, targets={n: replace(t, closure={p: tuple(other if f == shared else f for f in fs)
                                                               for p, fs in t.closure.items()})
                                        for n, t in pin.targets.items()})
        with pytest.raises(IntegrityError, match=f"closure has {newer.name} .* the release signed no such file"):
            verify_pin(swapped, attested.trust)
    finally:
        moved.stop()
