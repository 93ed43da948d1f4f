"""The factory's pure pieces and the compiled IR of every mode (no servers needed)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helperhub.core.errors import ConfigError, LockError
from helperhub.core.uv import BOOTSTRAP, RECORD
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin
from helperhub.pipelines.checks import check_source, deterministic_archive, runtime_guard
from helperhub.pipelines.delivery import Delivery, Mode, install_set, locked_requirement, parse_helper, trusted_hosts
from helperhub.pipelines.factory import PINS_ENV, helper_component
from helperhub.pipelines.local_run import compile_pipeline
from helperhub.pipelines.pins import check_pins, who_pins
from tests.conftest import REPO

SHA = "a" * 64
DIGEST = "sha256:" + "b" * 64
BASE = "127.0.0.1:5000/python@sha256:" + "d" * 64


HEX = {"k": "1", "n": "2", "m": "3", "s": "4", "t": "7"}  # a sha256 per name, by its first letter


def locked(name: str, version: str = "1.0.0", extras: tuple[str, ...] = ()) -> LockedFile:
    filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    return LockedFile(name, version, filename, HEX[name[0]] * 64, extras)


# a small closure: always kfp and numpy; scikit-learn with [model], matplotlib with [plots]
CLOSURE = (locked("kfp", "2.17.3"), locked("matplotlib", "3.8.0", ("plots",)), locked("numpy", "2.0.0"),
           locked("scikit-learn", "1.4.0", ("model",)))


def fake_pin(name: str, depends: tuple[str, ...] = (), image: bool = True) -> PackagePin:
    wheel = f"{name.replace('-', '_')}-1.0.0-py3-none-any.whl"
    helpers = tuple(LockedFile("tabular-helpers", "1.0.0", "tabular_helpers-1.0.0-py3-none-any.whl", SHA)
                    for d in depends if d.startswith("tabular-helpers"))
    return PackagePin(
        name=name, version="1.0.0", wheel=wheel, sha256=SHA,
        url=f"http://127.0.0.1:8080/packages/{wheel}", index_url="http://127.0.0.1:8080/simple/",
        kfp_version="2.17.3", commit="c" * 40, released_at="2026-01-01T00:00:00Z",
        requires=("kfp==2.17.3", "numpy>=1.26", "pandas>=2.1"), depends=depends,
    ).with_closure(tuple(sorted((*CLOSURE, *helpers)))).with_image(
        ImagePin(f"127.0.0.1:5000/{name}@{DIGEST}", f"127.0.0.1:5000/{name}:1.0.0", BASE, "127.0.0.1:5000")
        if image else None)


UV = LockedFile("uv", "0.13.8", "uv-0.13.8-py3-none-manylinux_2_17_x86_64.whl", "5" * 64)
LOCK = Lock({
    "tabular-helpers": fake_pin("tabular-helpers"),
    "vision-helpers": fake_pin("vision-helpers", ("tabular-helpers<2,>=1",)),
}, {"uv": {"linux/amd64": UV}})


def compiled(mode: Mode, tmp_path: Path, **kw: object) -> dict[str, object]:
    delivery = Delivery(lock=LOCK, mode=mode, source_root=REPO, **kw)  # type: ignore[arg-type]
    docs = list(yaml.safe_load_all(compile_pipeline(delivery, tmp_path).read_text()))
    ir: dict[str, object] = docs[0]
    for extra in docs[1:]:  # the platform spec (kfp-kubernetes) is a second document
        ir.update(extra)
    return ir


def executors(ir: dict[str, object]) -> dict[str, dict[str, object]]:
    return {k: v["container"] for k, v in ir["deploymentSpec"]["executors"].items()}  # type: ignore[index]


def guard_of(container: dict[str, object]) -> str:
    """The runtime check a step's install starts with, for the pins in its environment."""
    return runtime_guard(next(e["value"] for e in container["env"] if e["name"] == PINS_ENV))  # type: ignore[attr-defined]


def test_locked_requirement_is_exact() -> None:
    pin = LOCK.packages["tabular-helpers"]
    numpy = locked("numpy", "2.0.0")
    assert locked_requirement(numpy, pin.url, "version") == "numpy==2.0.0"
    assert locked_requirement(numpy, pin.url, "hash") == (
        f"numpy @ http://127.0.0.1:8080/packages/numpy-2.0.0-py3-none-any.whl#sha256={'2' * 64}"
    )
    assert locked_requirement(numpy, pin.url, "hash", "http://pypi.helpers:8080/simple/").startswith(
        "numpy @ http://pypi.helpers:8080/packages/numpy-2.0.0-py3-none-any.whl#")


def test_install_set_takes_the_extras_used_and_refuses_two_files_of_one_name() -> None:
    tab, vis = LOCK.packages["tabular-helpers"], LOCK.packages["vision-helpers"]
    refs = [parse_helper("tabular-helpers[model]"), parse_helper("vision-helpers")]
    names = [f.name for f, _ in install_set([tab, vis], refs, helpers=True)]
    assert names == ["kfp", "numpy", "scikit-learn", "tabular-helpers", "vision-helpers"]
    assert [f.name for f, _ in install_set([tab, vis], refs, helpers=False)] == ["kfp", "numpy", "scikit-learn"]
    other = vis.with_closure((locked("numpy", "2.1.0"),))
    with pytest.raises(ConfigError, match=r"numpy-2\.0\.0.*numpy-2\.1\.0.*cannot install both"):
        install_set([tab, other], refs, helpers=True)
    with pytest.raises(LockError, match="no locked closure"):
        install_set([tab.with_closure(())], refs[:1], helpers=True)


def test_trusted_host_follows_the_scheme() -> None:
    assert trusted_hosts("http://pypi.helpers.svc.cluster.local:8080/simple/") == ["pypi.helpers.svc.cluster.local"]
    assert trusted_hosts("https://pypi.example.org/simple/") == []


def test_helper_names_take_no_version() -> None:
    assert parse_helper("Tabular_Helpers[plots]").name == "tabular-helpers"
    with pytest.raises(ConfigError, match=r"version comes from pins\.json"):
        parse_helper("tabular-helpers>=1")


def test_image_mode_references_only_digests(tmp_path: Path) -> None:
    for name, container in executors(compiled(Mode.IMAGE, tmp_path)).items():
        assert container["image"].split("@")[1] == DIGEST, name  # type: ignore[index]
        assert "pip install" not in " ".join(container["command"]), name  # type: ignore[arg-type]
    images = {c["image"] for c in executors(compiled(Mode.IMAGE, tmp_path)).values()}  # type: ignore[index]
    assert images == {f"127.0.0.1:5000/tabular-helpers@{DIGEST}", f"127.0.0.1:5000/vision-helpers@{DIGEST}"}


@pytest.mark.parametrize("pin_by", ["version", "hash"])
def test_pip_package_mode_uses_one_index_and_exact_pins(tmp_path: Path, pin_by: str) -> None:
    for name, container in executors(compiled(Mode.PACKAGE, tmp_path, pin_by=pin_by, installer="pip")).items():
        script = " ".join(container["command"])  # type: ignore[arg-type]
        assert container["image"] == BASE  # type: ignore[index]
        assert script.count("--index-url http://127.0.0.1:8080/simple/") == 1, name
        assert "--extra-index-url" not in script and "--trusted-host 127.0.0.1 " in script
        assert "'--isolated'" in script and "'--no-deps'" in script and script.count("pip install") == 1, name
        assert ("'kfp==2.17.3'" if pin_by == "version" else "kfp-2.17.3-py3-none-any.whl#sha256=") in script
        install = container["command"][2].removeprefix(guard_of(container))  # type: ignore[index]
        assert ">=" not in install and "<" not in install, name  # exact pins only
        assert ("scikit-learn" in install) == (name not in ("exec-load-data", "exec-preprocess")), name  # [model]
        wanted = "==1.0.0" if pin_by == "version" else f"#sha256={SHA}"
        assert "tabular-helpers" in script and wanted in script, name
        pins = json.loads(next(e["value"] for e in container["env"] if e["name"] == PINS_ENV))  # type: ignore[index]
        assert {p["version"] for p in pins} == {"1.0.0"} and {p["sha256"] for p in pins} == {SHA}


INSTALL_HEAD = (
    '\nif ! [ -x "$(command -v pip)" ]; then\n    python3 -m ensurepip || python3 -m ensurepip --user'
    " || apt-get install python3-pip\nfi\n\nPIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet"
    " --no-warn-script-location --index-url http://127.0.0.1:8080/simple/ --trusted-host 127.0.0.1 '--isolated' "
)
INSTALL_TAIL = "&& \"$0\" \"$@\"\n"
URL = "http://127.0.0.1:8080/packages"


@pytest.mark.parametrize(
    ("pin_by", "expected"),
    [
        # the default: direct URLs with the wheel's sha256, which pip verifies
        # (preprocess uses both helpers without extras: their closure without scikit-learn, matplotlib)
        (None, INSTALL_HEAD + f"'--no-deps' 'kfp @ {URL}/kfp-2.17.3-py3-none-any.whl#sha256={'1' * 64}' "
         f"'numpy @ {URL}/numpy-2.0.0-py3-none-any.whl#sha256={'2' * 64}' "
         f"'tabular-helpers @ {URL}/tabular_helpers-1.0.0-py3-none-any.whl#sha256={SHA}' "
         f"'vision-helpers @ {URL}/vision_helpers-1.0.0-py3-none-any.whl#sha256={SHA}' " + INSTALL_TAIL),
        # asked for: name==version, with pip's install report (a private temp folder) as the record
        # of the wheel pip chose, for the step-start check
        ("version", '\nHELPERHUB_INSTALL_REPORT="$(mktemp -d)/install-report.json" || exit 1\n'
         "export HELPERHUB_INSTALL_REPORT\n" + INSTALL_HEAD + '--report "$HELPERHUB_INSTALL_REPORT" '
         "'--no-deps' 'kfp==2.17.3' 'numpy==2.0.0' 'tabular-helpers==1.0.0' 'vision-helpers==1.0.0' " + INSTALL_TAIL),
    ],
)
def test_pip_package_mode_install_command_is_exact(tmp_path: Path, pin_by: str | None, expected: str) -> None:
    kw = {} if pin_by is None else {"pin_by": pin_by}
    container = executors(compiled(Mode.PACKAGE, tmp_path, installer="pip", **kw))["exec-preprocess"]
    assert container["command"][:2] == ["sh", "-c"]  # type: ignore[index]
    assert container["command"][2] == guard_of(container) + expected  # type: ignore[index]


def uv_expected(requirements: str, where: str, reinstall: str, guard: str = "") -> str:
    return (
        f"{guard}\nset -e\n"
        'helperhub_tmp="$(mktemp -d)"\n'
        "for helperhub_var in $(env | sed -n 's/^\\(UV_[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset \"$helperhub_var\"; done\n"
        'helperhub_machine="$(uname -m)"\n'
        'case "$helperhub_machine" in\n'
        "  x86_64)\n"
        f"    helperhub_uv_url={URL}/{UV.filename} helperhub_uv_sha={'5' * 64} helperhub_uv_version=0.13.8\n"
        "    cat > \"$helperhub_tmp/requirements.txt\" <<'HELPERHUB_REQUIREMENTS'\n"
        f"{requirements}\n"
        "HELPERHUB_REQUIREMENTS\n"
        "    ;;\n"
        '  *) echo "helperhub: this step runs on $helperhub_machine"\', but target default of tabular-helpers 1.0.0, '
        "vision-helpers 1.0.0 has files for x86_64 only: run it on such a node, or release it for this machine' "
        ">&2; exit 1 ;;\n"
        "esac\n"
        "helperhub_uv=uv\n"
        'case "$(uv --version 2>/dev/null)" in\n'
        '  "uv $helperhub_uv_version"|"uv $helperhub_uv_version "*) ;;\n'
        '  *) python3 - "$helperhub_uv_url" "$helperhub_uv_sha" "$helperhub_uv_version" "$helperhub_tmp" '
        "<<'HELPERHUB_BOOTSTRAP'\n"
        f"{BOOTSTRAP}HELPERHUB_BOOTSTRAP\n"
        '     helperhub_uv="$helperhub_tmp/uv" ;;\n'
        "esac\n"
        'UV_CONCURRENT_DOWNLOADS=4 "$helperhub_uv" pip install --no-config --no-deps --require-hashes '
        f"--break-system-packages --link-mode=hardlink --quiet {where} {reinstall}"
        '-r "$helperhub_tmp/requirements.txt" \\\n'
        '  --cache-dir "$helperhub_tmp/cache" --python "$(command -v python3)"\n'
        '(nice rm -rf "$helperhub_tmp/cache" "$helperhub_tmp/uv" >/dev/null 2>&1 &)\n'
        'HELPERHUB_INSTALL_REPORT="$helperhub_tmp/install-report.json"\n'
        "export HELPERHUB_INSTALL_REPORT\n"
        "python3 - \"$HELPERHUB_INSTALL_REPORT\" \"$helperhub_tmp/requirements.txt\" <<'HELPERHUB_RECORD'\n"
        f"{RECORD}HELPERHUB_RECORD\n"
        '"$0" "$@"\n'
    )


@pytest.mark.parametrize(
    ("pin_by", "requirements", "where"),
    [
        # the default: every file by URL, its sha256 required, no index at all
        (None, f"kfp @ {URL}/kfp-2.17.3-py3-none-any.whl --hash=sha256:{'1' * 64}\n"
         f"numpy @ {URL}/numpy-2.0.0-py3-none-any.whl --hash=sha256:{'2' * 64}\n"
         f"tabular-helpers @ {URL}/tabular_helpers-1.0.0-py3-none-any.whl --hash=sha256:{SHA}\n"
         f"vision-helpers @ {URL}/vision_helpers-1.0.0-py3-none-any.whl --hash=sha256:{SHA}", "--no-index"),
        # asked for: name==version from the private index alone, every sha256 still required
        ("version", f"kfp==2.17.3 --hash=sha256:{'1' * 64}\nnumpy==2.0.0 --hash=sha256:{'2' * 64}\n"
         f"tabular-helpers==1.0.0 --hash=sha256:{SHA}\nvision-helpers==1.0.0 --hash=sha256:{SHA}",
         "--index-url http://127.0.0.1:8080/simple/"),
    ],
)
def test_uv_package_mode_install_command_is_exact(
    tmp_path: Path, pin_by: str | None, requirements: str, where: str
) -> None:
    kw = {} if pin_by is None else {"pin_by": pin_by}
    container = executors(compiled(Mode.PACKAGE, tmp_path, **kw))["exec-preprocess"]
    reinstall = "--reinstall-package tabular-helpers --reinstall-package vision-helpers "
    assert container["command"][:3] == [  # type: ignore[index]
        "sh", "-c", uv_expected(requirements, where, reinstall, guard_of(container))]
    assert container["command"][3:5] == ["sh", "-ec"]  # type: ignore[index]  # then KFP's own step
    assert "packages_to_install" not in json.dumps(container)


def test_uv_working_tree_modes_install_the_closure_without_the_helpers(tmp_path: Path) -> None:
    container = executors(compiled(Mode.EMBEDDED, tmp_path))["exec-preprocess"]
    requirements = (f"kfp @ {URL}/kfp-2.17.3-py3-none-any.whl --hash=sha256:{'1' * 64}\n"
                    f"numpy @ {URL}/numpy-2.0.0-py3-none-any.whl --hash=sha256:{'2' * 64}")
    assert container["command"][2] == uv_expected(  # type: ignore[index]
        requirements, "--no-index", "", guard_of(container))


def test_uv_needs_a_pinned_uv() -> None:
    lock = Lock(LOCK.packages)
    with pytest.raises(LockError, match="pins no uv for linux/amd64; run `make release`"):
        helper_component(lambda: None, helpers=["tabular-helpers"], delivery=Delivery(lock=lock, mode=Mode.PACKAGE))
    with pytest.raises(ConfigError, match="installer must be one of uv, pip"):
        Delivery(lock=lock, mode=Mode.PACKAGE, installer="conda")


def test_hash_pins_are_the_default() -> None:
    from helperhub.cli.pipeline_cmds import compile_cmd, demo

    assert Delivery(lock=LOCK, mode=Mode.PACKAGE).pin_by == "hash"
    for command in (compile_cmd, demo):
        option = next(p for p in command.params if p.name == "pin_by")
        assert option.default == "hash", command.name


def test_no_pip_config_file_reaches_any_step(tmp_path: Path) -> None:
    for mode in Mode:
        for name, container in executors(compiled(mode, tmp_path / str(mode))).items():
            env = {e["name"]: e["value"] for e in container["env"]}  # type: ignore[index]
            assert env["PIP_CONFIG_FILE"] == "/dev/null", (mode, name)


def test_volume_and_configmap_modes_mount_with_kfp_kubernetes(tmp_path: Path) -> None:
    volume = compiled(Mode.VOLUME, tmp_path)
    k8s = volume["platforms"]["kubernetes"]["deploymentSpec"]["executors"]  # type: ignore[index]
    assert {m["mountPath"] for e in k8s.values() for m in e["pvcMount"]} == {"/mnt/helpers"}
    assert {m["constant"] for e in k8s.values() for m in e["pvcMount"]} == {"helpers-src"}
    env = {e["name"]: e["value"] for e in executors(volume)["exec-train"]["env"]}  # type: ignore[index]
    assert env["PYTHONPATH"] == "/mnt/helpers"
    cm = compiled(Mode.CONFIGMAP, tmp_path)["platforms"]["kubernetes"]["deploymentSpec"]["executors"]  # type: ignore[index]
    mounts = {(m["configMapName"], m["mountPath"]) for m in cm["exec-preprocess"]["configMapAsVolume"]}
    assert mounts == {("tabular-helpers-src", "/opt/helpers-src/tabular_helpers"),
                      ("vision-helpers-src", "/opt/helpers-src/vision_helpers")}


def test_compiling_is_deterministic(tmp_path: Path) -> None:
    for mode in Mode:
        first = compile_pipeline(Delivery(lock=LOCK, mode=mode, source_root=REPO), tmp_path / "a").read_bytes()
        second = compile_pipeline(Delivery(lock=LOCK, mode=mode, source_root=REPO), tmp_path / "b").read_bytes()
        assert first == second, mode


def test_missing_pin_fails_at_definition_time_with_the_fix() -> None:
    def step() -> None:
        pass

    with pytest.raises(LockError, match=r"make release PACKAGE=vision-helpers"):
        helper_component(step, helpers=["vision-helpers"], delivery=Delivery(lock=Lock(), mode=Mode.PACKAGE))
    no_image = Lock({"tabular-helpers": fake_pin("tabular-helpers", image=False)})
    with pytest.raises(LockError, match=r"make images PACKAGE=tabular-helpers"):
        helper_component(step, helpers=["tabular-helpers"], delivery=Delivery(lock=no_image, mode=Mode.IMAGE))


@pytest.mark.slow
def test_step_start_check_refuses_another_version(tmp_path: Path) -> None:
    src = REPO / "helpers/tabular-helpers/src"
    good = json.dumps([{"name": "tabular-helpers", "module": "tabular_helpers", "version": "1.0.0", "mode": "m"}])
    bad = good.replace("1.0.0", "9.9.9")
    run = [sys.executable, "-c"]
    env = {"PYTHONPATH": str(src)}
    assert subprocess.run([*run, check_source(good)], env=env, capture_output=True).returncode == 0
    proc = subprocess.run([*run, check_source(bad)], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "tabular-helpers 1.0.0 is installed but this step is pinned to 9.9.9" in proc.stderr


def installed_helper(site: Path, direct_url_sha: str | None) -> None:
    """A distribution as pip leaves it: metadata, and direct_url.json for a direct-URL install."""
    info = site / "tabular_helpers-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tabular-helpers\nVersion: 1.0.0\n")
    if direct_url_sha is not None:
        archive = {"hashes": {"sha256": direct_url_sha}}
        url = f"{URL}/tabular_helpers-1.0.0-py3-none-any.whl"
        (info / "direct_url.json").write_text(json.dumps({"url": url, "archive_info": archive}))


def install_report(path: Path, sha: str) -> Path:
    """pip's --report (pip 23 writes archive_info.hash only), as kept in an image or by a step."""
    item = {"metadata": {"name": "tabular_helpers", "version": "1.0.0"},
            "download_info": {"url": f"{URL}/tabular_helpers-1.0.0-py3-none-any.whl",
                              "archive_info": {"hash": f"sha256={sha}"}}}
    path.write_text(json.dumps({"install": [item]}))
    return path


OTHER = "b" * 64


@pytest.mark.parametrize(
    ("mode", "direct_url_sha", "step_report_sha", "error"),
    [
        ("package", SHA, None, None),  # hash pin: pip's direct_url.json
        ("package", OTHER, None, f"with sha256 {OTHER} but this step is pinned to {SHA} (package mode)"),
        ("package", OTHER, SHA, f"with sha256 {OTHER} but"),  # direct_url.json wins over any report
        ("package", None, SHA, None),  # version pin: the step's pip report
        ("package", None, OTHER, f"with sha256 {OTHER} but"),  # a twin of the version was chosen
        ("package", None, None, "with sha256 (no record) but this step is pinned to"),
        ("image", None, None, "with sha256 (no record) but this step is pinned to"),
    ],
)
def test_step_start_check_verifies_the_installed_wheel(
    tmp_path: Path, mode: str, direct_url_sha: str | None, step_report_sha: str | None, error: str | None
) -> None:
    installed_helper(tmp_path / "site", direct_url_sha)
    pins = json.dumps([{"name": "tabular-helpers", "module": "tabular_helpers", "version": "1.0.0", "mode": mode,
                        "sha256": SHA}])
    env = {"PYTHONPATH": str(tmp_path / "site")}
    if step_report_sha is not None:
        env["HELPERHUB_INSTALL_REPORT"] = str(install_report(tmp_path / "report.json", step_report_sha))
    proc = subprocess.run([sys.executable, "-c", check_source(pins)], env=env, capture_output=True, text=True)
    if error is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode != 0
        message = proc.stderr.strip().splitlines()[-1]
        assert message.startswith("RuntimeError: helperhub: tabular-helpers 1.0.0 was installed from a wheel")
        assert error in message


def test_step_start_check_reads_the_image_record_of_its_environment(tmp_path: Path) -> None:
    """Image mode: a helper that came with the image's helper from the index has no direct_url.json;
    the image keeps pip's report of that install in its environment (sys.prefix)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    installed_helper(tmp_path / "site", None)
    pins = json.dumps([{"name": "tabular-helpers", "module": "tabular_helpers", "version": "1.0.0",
                        "mode": "image", "sha256": SHA}])
    run = [str(tmp_path / "env" / "bin" / "python"), "-c", check_source(pins)]
    env = {"PYTHONPATH": str(tmp_path / "site")}
    record = tmp_path / "env" / "helperhub-install-report.json"
    install_report(record, SHA)
    assert subprocess.run(run, env=env, capture_output=True).returncode == 0
    install_report(record, OTHER)
    proc = subprocess.run(run, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and f"with sha256 {OTHER} but this step is pinned to {SHA} (image mode)" in proc.stderr


def test_embedded_archive_depends_only_on_content(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    first = deterministic_archive(tmp_path)
    (tmp_path / "pkg" / "m.py").touch()
    assert deterministic_archive(tmp_path) == first


def test_who_pins_reads_compiled_specs(tmp_path: Path) -> None:
    compile_pipeline(Delivery(lock=LOCK, mode=Mode.PACKAGE, source_root=REPO), tmp_path / "compiled")
    usages = who_pins(tmp_path)
    by_helper = {(u.helper, u.version) for u in usages}
    assert by_helper == {("tabular-helpers", "1.0.0"), ("vision-helpers", "1.0.0")}
    assert {u.component for u in usages if u.helper == "vision-helpers"} == {"preprocess"}


def test_pins_check_fails_closed_when_the_registry_is_unreachable() -> None:
    unreachable = dataclasses.replace(fake_pin("tabular-helpers"), index_url="http://127.0.0.1:9/simple/")
    problems = check_pins(Lock({"tabular-helpers": unreachable}))
    assert problems and "cannot reach" in problems[0].message


def test_cluster_profile_points_pods_at_in_cluster_services(tmp_path: Path) -> None:
    from helperhub.pipelines.profiles import load_profile, retarget

    profile = load_profile("cluster")
    assert profile.index_url == "http://pypi.helpers.svc.cluster.local:8080/simple/"
    for installer in ("pip", "uv"):
        pkg = Delivery.for_profile(profile, LOCK, Mode.PACKAGE, source_root=REPO, pin_by="hash", installer=installer)
        for container in executors(yaml.safe_load(compile_pipeline(pkg, tmp_path / "p").read_text())).values():
            script = " ".join(container["command"])  # type: ignore[arg-type]
            if installer == "pip":
                assert "--index-url http://pypi.helpers.svc.cluster.local:8080/simple/" in script
                assert "--trusted-host pypi.helpers.svc.cluster.local " in script
            else:  # uv itself comes from the cluster's index too
                assert f"helperhub_uv_url=http://pypi.helpers.svc.cluster.local:8080/packages/{UV.filename} " in script
            assert "127.0.0.1" not in script
            assert "@ http://pypi.helpers.svc.cluster.local:8080/packages/" in script
            assert container["image"] == retarget(BASE, profile.image_registry)  # type: ignore[index]
    img = Delivery.for_profile(profile, LOCK, Mode.IMAGE, source_root=REPO)
    for container in executors(yaml.safe_load(compile_pipeline(img, tmp_path / "i").read_text())).values():
        assert container["image"].startswith(f"{profile.image_registry}/")  # type: ignore[index,union-attr]
        assert container["image"].endswith(DIGEST)  # type: ignore[index,union-attr]
    with pytest.raises(ConfigError, match="no profile 'moon'"):
        load_profile("moon")


def test_step_start_check_covers_each_file_of_the_environment_on_its_machine(tmp_path: Path) -> None:
    """An environment's other file is checked like a helper: this machine's locked version and sha256,
    from the image's report of every file it holds."""
    import platform

    from helperhub.lock.closure import LockedFile
    from helperhub.pipelines.env_build import install_report as env_report

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    installed_helper(tmp_path / "site", None)  # stands for the extra package: tabular-helpers 1.0.0 here
    record = tmp_path / "env" / "helperhub-install-report.json"
    run = [str(tmp_path / "env" / "bin" / "python"), "-c"]
    env = {"PYTHONPATH": str(tmp_path / "site")}
    here, there = platform.machine(), "aarch64" if platform.machine() != "aarch64" else "x86_64"

    def entry(version: str, sha: str) -> str:
        return json.dumps([{"name": "tabular-helpers", "mode": "image", "environment": "scoring",
                            "files": {here: [version, sha], there: ["9.9", OTHER]}}])

    record.write_text(env_report([LockedFile("tabular-helpers", "1.0.0", "t.whl", SHA)]))
    assert subprocess.run([*run, check_source(entry("1.0.0", SHA))], env=env, capture_output=True).returncode == 0
    wrong_version = subprocess.run([*run, check_source(entry("1.0.1", SHA))], env=env, capture_output=True, text=True)
    assert "tabular-helpers 1.0.0 is installed but this step is pinned to 1.0.1" in wrong_version.stderr
    record.write_text(env_report([LockedFile("tabular-helpers", "1.0.0", "t.whl", OTHER)]))
    wrong_bytes = subprocess.run([*run, check_source(entry("1.0.0", SHA))], env=env, capture_output=True, text=True)
    assert f"with sha256 {OTHER} but this step is pinned to {SHA}" in wrong_bytes.stderr
