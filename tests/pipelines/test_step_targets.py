"""Steps pick their target of the lock: the image of that target, each platform's files of it
(installed by the machine the step runs on), and a step-start check of the interpreter against it.

The locks are the repository's pins.json with a second target added (``target_locks``)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helperhub.core.errors import ConfigError, LockError
from helperhub.lock.closure import LockedFile, for_extras
from helperhub.lock.lockfile import Lock, dump_lock, save_lock
from helperhub.pipelines.checks import check_source, runtime_guard
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.factory import PINS_ENV, helper_component
from helperhub.pipelines.installer import MachineInstall, marked_requirements, uv_script
from helperhub.pipelines.local_run import compile_pipeline
from tests.conftest import REPO
from tests.pipelines.target_locks import AMD64, ARM64, BASE_313, UV_ARM64, image_of, repo_lock, two_target_lock

TAB = "tabular-helpers"
RUNNING = f"{sys.version_info[0]}.{sys.version_info[1]}"
MACHINE = platform.machine()


def step() -> None:
    pass


step.__annotations__ = {}  # kfp reads them: here strings ("None"), under `from __future__ import annotations`


def container_of(lock: Lock, mode: Mode, helpers: list[str], **kw: Any) -> Any:
    component = helper_component(step, helpers=helpers, delivery=Delivery(lock=lock, mode=mode, **kw))
    return component.component_spec.implementation.container


def pins_env(container: Any) -> list[dict[str, Any]]:
    return json.loads(container.env[PINS_ENV])  # type: ignore[no-any-return]


def branches(script: str) -> dict[str, list[str]]:
    """machine -> the requirement lines of its ``case`` branch, from a rendered uv script."""
    found = re.finditer(r"^  (\w+)\)\n.*?<<'HELPERHUB_REQUIREMENTS'\n(.*?)\nHELPERHUB_REQUIREMENTS\n    ;;$", script,
                        re.S | re.M)
    return {m[1]: m[2].splitlines() for m in found}


# --- the rendered install commands, per platform ---------------------------------------------

def small(name: str, version: str, tag: str) -> LockedFile:
    return LockedFile(name, version, f"{name}-{version}-{tag}.whl", (name[0] * 63 + tag[-1]).replace("-", "0"))


X86 = (("numpy @ http://i/p/numpy-2.0.0-cp313-cp313-x86_64.whl", small("numpy", "2.0.0", "cp313-x86_64")),
       ("six @ http://i/p/six-1.0.0-py3-none-any.whl", small("six", "1.0.0", "py3-none-any")))
ARM = (("numpy @ http://i/p/numpy-2.0.0-cp313-cp313-aarch64.whl", small("numpy", "2.0.0", "cp313-aarch64")),
       ("six @ http://i/p/six-1.0.0-py3-none-any.whl", small("six", "1.0.0", "py3-none-any")))
UV_X86 = LockedFile("uv", "0.13.8", "uv-x86_64.whl", "5" * 64)
INSTALLS = [MachineInstall("x86_64", UV_X86, "http://i/p/uv-x86_64.whl", X86),
            MachineInstall("aarch64", UV_ARM64, "http://i/p/uv-aarch64.whl", ARM)]
WHAT = "target py313 of alpha 1.0.0"


def test_uv_script_has_one_branch_per_machine_and_refuses_any_other() -> None:
    script = uv_script(INSTALLS, index_url=None, reinstall=[], what=WHAT)
    numpy_x86, six, numpy_arm = X86[0][1].sha256, X86[1][1].sha256, ARM[0][1].sha256
    assert (
        'helperhub_machine="$(uname -m)"\n'
        'case "$helperhub_machine" in\n'
        "  x86_64)\n"
        f"    helperhub_uv_url=http://i/p/uv-x86_64.whl helperhub_uv_sha={'5' * 64} helperhub_uv_version=0.13.8\n"
        "    cat > \"$helperhub_tmp/requirements.txt\" <<'HELPERHUB_REQUIREMENTS'\n"
        f"numpy @ http://i/p/numpy-2.0.0-cp313-cp313-x86_64.whl --hash=sha256:{numpy_x86}\n"
        f"six @ http://i/p/six-1.0.0-py3-none-any.whl --hash=sha256:{six}\n"
        "HELPERHUB_REQUIREMENTS\n"
        "    ;;\n"
        "  aarch64)\n"
        f"    helperhub_uv_url=http://i/p/uv-aarch64.whl helperhub_uv_sha={'6' * 64} helperhub_uv_version=0.13.8\n"
        "    cat > \"$helperhub_tmp/requirements.txt\" <<'HELPERHUB_REQUIREMENTS'\n"
        f"numpy @ http://i/p/numpy-2.0.0-cp313-cp313-aarch64.whl --hash=sha256:{numpy_arm}\n"
        f"six @ http://i/p/six-1.0.0-py3-none-any.whl --hash=sha256:{six}\n"
        "HELPERHUB_REQUIREMENTS\n"
        "    ;;\n"
        '  *) echo "helperhub: this step runs on $helperhub_machine"\', but target py313 of alpha 1.0.0 has files '
        "for x86_64 and aarch64 only: run it on such a node, or release it for this machine' >&2; exit 1 ;;\n"
        "esac\n"
        "helperhub_uv=uv\n"
    ) in script
    assert script.count("--no-deps --require-hashes") == 1  # one install, of the chosen branch's file


def fake_tools(folder: Path, machine: str, uv_version: str) -> dict[str, str]:
    """A PATH where ``uname -m`` says ``machine``, uv is ``uv_version`` and copies the requirements
    it is given to $HH_OUT, and python3 stands in for the uv bootstrap by recording its arguments."""
    folder.mkdir()
    tools = {
        "uname": f'#!/bin/sh\necho {machine}\n',
        "uv": f'#!/bin/sh\n[ "$1" = --version ] && {{ echo "uv {uv_version}"; exit 0; }}\n'
              'while [ $# -gt 0 ]; do [ "$1" = -r ] && cp "$2" "$HH_OUT"; shift; done\n',
        "python3": '#!/bin/sh\n[ "$1" = - ] && [ "$4" = 0.13.8 ] && '
                   '{ echo "$2 $3" > "$HH_OUT.bootstrap"; exit 7; }\n'
                   f'exec {sys.executable} "$@"\n',
    }
    for name, text in tools.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o755)
    return {"PATH": f"{folder}:/usr/bin:/bin", "HH_OUT": str(folder.parent / "requirements.txt")}


@pytest.mark.parametrize(("machine", "lines"), [("x86_64", X86), ("aarch64", ARM)])
def test_uv_script_installs_the_files_of_the_machine_it_runs_on(
    tmp_path: Path, machine: str, lines: tuple[tuple[str, LockedFile], ...]
) -> None:
    script = uv_script(INSTALLS, index_url=None, reinstall=[], what=WHAT)
    env = fake_tools(tmp_path / "bin", machine, "0.13.8")
    proc = subprocess.run(["sh", "-c", script, "echo", "step ran"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "step ran\n"
    assert (tmp_path / "requirements.txt").read_text().splitlines() == [
        f"{req} --hash=sha256:{f.sha256}" for req, f in lines]


def test_uv_script_bootstraps_the_uv_of_the_machine(tmp_path: Path) -> None:
    script = uv_script(INSTALLS, index_url=None, reinstall=[], what=WHAT)
    env = fake_tools(tmp_path / "bin", "aarch64", "0.1.0")  # the base image's uv is another version
    proc = subprocess.run(["sh", "-c", script, "echo", "step ran"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 7 and proc.stdout == ""
    assert (tmp_path / "requirements.txt.bootstrap").read_text() == f"http://i/p/uv-aarch64.whl {'6' * 64}\n"


def test_uv_script_stops_on_a_machine_the_target_has_no_files_for(tmp_path: Path) -> None:
    script = uv_script(INSTALLS, index_url=None, reinstall=[], what=WHAT)
    env = fake_tools(tmp_path / "bin", "riscv64", "0.13.8")
    proc = subprocess.run(["sh", "-c", script, "echo", "step ran"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == ("helperhub: this step runs on riscv64, but target py313 of alpha 1.0.0 has files for "
                           "x86_64 and aarch64 only: run it on such a node, or release it for this machine\n")


def test_pip_requirements_mark_the_files_of_one_machine() -> None:
    assert marked_requirements([("x86_64", X86), ("aarch64", ARM)]) == [
        'numpy @ http://i/p/numpy-2.0.0-cp313-cp313-x86_64.whl ; platform_machine == "x86_64"',
        'numpy @ http://i/p/numpy-2.0.0-cp313-cp313-aarch64.whl ; platform_machine == "aarch64"',
        "six @ http://i/p/six-1.0.0-py3-none-any.whl",
    ]
    assert marked_requirements([("x86_64", X86)]) == [req for req, _ in X86]  # one machine: as before


# --- compiled steps --------------------------------------------------------------------------

def test_package_step_carries_each_platform_of_the_target() -> None:
    lock = two_target_lock()
    container = container_of(lock, Mode.PACKAGE, [f"{TAB}[model]"], target="py313")
    script = container.command[2]
    pin = lock.packages[TAB]
    found = branches(script)
    assert list(found) == ["x86_64", "aarch64"]
    for platform_, machine in ((AMD64, "x86_64"), (ARM64, "aarch64")):
        files = [*for_extras(pin.targets["py313"].closure[platform_], ["model"]), pin.wheel_file()]
        assert sorted(line.split(" --hash=sha256:")[1] for line in found[machine]) == sorted(f.sha256 for f in files)
        assert not [line for line in found[machine] if "cp311" in line]
        other = "aarch64" if machine == "x86_64" else "x86_64"
        assert not [line for line in found[machine] if other in line], machine
        uv = lock.require_tool("uv", platform_)
        assert f"helperhub_uv_url=http://127.0.0.1:8080/packages/{uv.filename} helperhub_uv_sha={uv.sha256} " in script
    assert container.image == BASE_313  # the base the target's images were built from


def test_a_default_lock_compiles_one_x86_64_branch_as_before(tmp_path: Path) -> None:
    """The repository's lock (target "default", format 3) and the same lock as format 2 compile
    to the same bytes, with the files of linux/amd64 only."""
    lock = repo_lock()
    script = container_of(lock, Mode.PACKAGE, [TAB]).command[2]
    assert list(branches(script)) == ["x86_64"]
    data = json.loads(dump_lock(lock))
    data["format"] = 2
    data["tools"] = {n: files[AMD64] for n, files in data["tools"].items()}
    for entry in data["packages"].values():
        target = entry.pop("targets")["default"]
        del entry["default_target"]
        entry["closure"], entry["image"] = target["closure"][AMD64], target["image"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "pins.json").write_text(json.dumps(data))
    save_lock(tmp_path / "new" / "pins.json", lock)
    for mode in (Mode.IMAGE, Mode.PACKAGE):
        old = Delivery.from_lock(tmp_path / "old" / "pins.json", mode=mode)
        new = Delivery.from_lock(tmp_path / "new" / "pins.json", mode=mode, target="default")
        assert old.lock == new.lock, mode
        assert (compile_pipeline(old, tmp_path / "a").read_bytes()
                == compile_pipeline(new, tmp_path / "b").read_bytes()), mode


def test_image_step_uses_the_index_digest_of_the_target() -> None:
    lock = two_target_lock()
    container = container_of(lock, Mode.IMAGE, [TAB, "vision-helpers"], target="py313")
    image = image_of("vision-helpers", "py313", (AMD64, ARM64))
    assert container.image == image.ref == lock.packages["vision-helpers"].targets["py313"].image.ref  # type: ignore[union-attr]
    assert container_of(lock, Mode.IMAGE, [TAB]).image == lock.packages[TAB].image.ref  # type: ignore[union-attr]


def test_pip_step_marks_the_files_of_each_machine() -> None:
    lock = two_target_lock()
    container = container_of(lock, Mode.PACKAGE, [TAB], target="py313", installer="pip")
    install = container.command[2].removeprefix(runtime_guard(container.env[PINS_ENV]))
    numpy = {f.filename: f for p in (AMD64, ARM64) for f in lock.packages[TAB].targets["py313"].closure[p]
             if f.name == "numpy"}
    assert len(numpy) == 2
    for filename in numpy:
        machine = "aarch64" if "aarch64" in filename else "x86_64"
        assert f'{filename}#sha256={numpy[filename].sha256} ; platform_machine == "{machine}"\'' in install
    assert "'certifi @ http://127.0.0.1:8080/packages/certifi-2026.10.19.post1-py3-none-any.whl#sha256=" in install
    assert "certifi-2026.10.19.post1-py3-none-any.whl#sha256=" + lock.packages[TAB].closure[0].sha256 + "'" in install


def test_a_target_the_lock_lacks_fails_when_the_component_is_defined(tmp_path: Path) -> None:
    save_lock(tmp_path / "pins.json", two_target_lock())
    delivery = Delivery.from_lock(tmp_path / "pins.json", mode="package", target="py399")  # not used yet: fine
    for mode in (Mode.IMAGE, Mode.PACKAGE):
        with pytest.raises(LockError) as caught:
            helper_component(step, helpers=[TAB], delivery=dataclasses.replace(delivery, mode=mode))
        assert str(caught.value) == (
            "the pin of tabular-helpers 1.0.0 has no target 'py399'; it has default, py313: "
            "re-release it for that target, or pick one of them")


def test_helpers_released_first_for_other_targets_need_a_target() -> None:
    lock = two_target_lock()
    vision = lock.packages["vision-helpers"]
    lock = lock.with_pin(dataclasses.replace(vision, default_target="py313"))
    with pytest.raises(ConfigError, match=r"first for different targets \(tabular-helpers default, "
                                          r"vision-helpers py313\); pick one with target="):
        container_of(lock, Mode.IMAGE, [TAB, "vision-helpers"])
    assert container_of(lock, Mode.IMAGE, ["vision-helpers"]).image == vision.targets["py313"].image.ref  # type: ignore[union-attr]


def test_helperhub_pins_names_the_target_and_what_it_runs() -> None:
    lock = two_target_lock()
    pin = lock.packages[TAB]
    runtimes = {"default": {"machines": ["x86_64"], "python": "3.11"},
                "py313": {"machines": ["x86_64", "aarch64"], "python": "3.13"}}
    image = pins_env(container_of(lock, Mode.IMAGE, [TAB], target="py313"))
    assert image == [{"image": pin.targets["py313"].image.ref, "mode": "image", "module": "tabular_helpers",  # type: ignore[union-attr]
                      "name": TAB, "sha256": pin.sha256, "target": "py313", "targets": runtimes, "version": "1.0.0"}]
    package = pins_env(container_of(lock, Mode.PACKAGE, [TAB]))
    assert [(e["target"], e["targets"], e["image"]) for e in package] == [("default", runtimes, pin.image.ref)]  # type: ignore[union-attr]
    embedded = pins_env(container_of(lock, Mode.EMBEDDED, [TAB], target="py313", source_root=REPO))
    assert [(e["mode"], e["target"]) for e in embedded] == [("embedded", "py313")]


# --- the step-start check of the interpreter ---------------------------------------------------

OTHER = "3.13" if RUNNING != "3.13" else "3.12"


def entry(target: str, targets: dict[str, tuple[str, list[str]]]) -> str:
    return json.dumps([{"name": TAB, "module": "tabular_helpers", "version": "1.0.0", "mode": "image",
                        "sha256": "a" * 64, "target": target,
                        "targets": {n: {"python": p, "machines": m} for n, (p, m) in targets.items()}}])


@pytest.mark.parametrize(("pins", "line"), [
    (entry("py313", {"default": (RUNNING, [MACHINE]), "py313": (OTHER, [MACHINE])}),
     f"this step runs Python {RUNNING} on {MACHINE}, but tabular-helpers 1.0.0 is pinned for target py313 "
     f"(Python {OTHER}): pick target default or a py313 base image"),
    (entry("py313", {"py313": (OTHER, [MACHINE])}),
     f"this step runs Python {RUNNING} on {MACHINE}, but tabular-helpers 1.0.0 is pinned for target py313 "
     f"(Python {OTHER}): pick a target released for Python {RUNNING} on {MACHINE} or a py313 base image"),
    (entry("arm", {"arm": (RUNNING, ["riscv64"]), "py313": (OTHER, [MACHINE])}),
     f"this step runs Python {RUNNING} on {MACHINE}, but tabular-helpers 1.0.0 is pinned for target arm "
     f"(Python {RUNNING} on riscv64): pick a target released for Python {RUNNING} on {MACHINE} "
     "or a node of riscv64"),
])
def test_step_start_check_names_the_runtime_mismatch_in_one_line(pins: str, line: str) -> None:
    proc = subprocess.run([sys.executable, "-c", check_source(pins)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1] == f"RuntimeError: helperhub: {line}"
    # before the install, as the first line of the step's command
    guard = runtime_guard(pins) + '"$0" "$@"\n'
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    shell = subprocess.run(["sh", "-c", guard.replace("python3 -", f"{sys.executable} -"), "echo", "ran"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert (shell.returncode, shell.stdout, shell.stderr) == (1, "", f"helperhub: {line}\n")


def test_the_runtime_check_passes_the_target_it_runs() -> None:
    pins = entry("here", {"here": (RUNNING, ["aarch64", MACHINE])})
    guard = runtime_guard(pins).replace("python3 -", f"{sys.executable} -") + '"$0" "$@"\n'
    shell = subprocess.run(["sh", "-c", guard, "echo", "ran"], capture_output=True, text=True, timeout=60)
    assert (shell.returncode, shell.stdout, shell.stderr) == (0, "ran\n", "")
    legacy = json.dumps([{"name": TAB, "module": "tabular_helpers", "version": "1.0.0", "mode": "image"}])
    assert "None" in subprocess.run(
        [sys.executable, "-c", runtime_guard(legacy).split("<<'HELPERHUB_RUNTIME' || exit 1\n")[1].split(
            "wrong = ")[0] + f"print(__helperhub_runtime({legacy!r}))"], capture_output=True, text=True).stdout


def test_the_example_pipeline_takes_the_target(tmp_path: Path) -> None:
    lock = two_target_lock()
    path = compile_pipeline(Delivery(lock=lock, mode=Mode.IMAGE, target="py313"), tmp_path)
    assert path.name == "helper-example-image-py313.yaml"
    ir = yaml.safe_load(path.read_text())
    images = {e["container"]["image"] for e in ir["deploymentSpec"]["executors"].values()}
    assert images == {lock.packages[n].targets["py313"].image.ref for n in (TAB, "vision-helpers")}  # type: ignore[union-attr]
    assert ir["pipelineInfo"]["description"] == "Shared helpers delivered as image for target py313"
    assert os.path.basename(compile_pipeline(Delivery(lock=lock, mode=Mode.IMAGE), tmp_path)) == \
        "helper-example-image.yaml"


# --- the compiled command, run on this host ------------------------------------------------------

@pytest.mark.slow
def test_compiled_install_picks_the_files_of_this_machine(tmp_path: Path) -> None:
    """The compiled package step of a two-platform target, run as kfp.local's subprocess runner
    runs it (a fresh venv, the real uv, a real index): the locked files of this host's machine
    are installed (alpha 1.0.0 on x86_64; the arm64 files lock alpha 2.0.0), the helper with them."""
    import shutil

    from helperhub.lock.lockfile import PackagePin
    from helperhub.lock.target_pins import TargetPin
    from tests.conftest import start_index
    from tests.pipelines.test_installer import locked_wheel

    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv is not None, "uv is a dev dependency of the project"
    uv_version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True).stdout.split()[1]
    packages = tmp_path / "index" / "packages"
    packages.mkdir(parents=True)
    helper = locked_wheel(packages, "beta", "1.0.0")
    files = {AMD64: (locked_wheel(packages, "alpha", "1.0.0"),), ARM64: (locked_wheel(packages, "alpha", "2.0.0"),)}
    mine = "1.0.0" if MACHINE == "x86_64" else "2.0.0"
    running = start_index(tmp_path / "index")
    try:
        base = running.settings.base
        pin = PackagePin(name="beta", version="1.0.0", wheel=helper.filename, sha256=helper.sha256,
                         url=f"{base}/packages/{helper.filename}", index_url=f"{base}/simple/", kfp_version="2.17.3",
                         commit="", released_at="",
                         targets={"here": TargetPin(RUNNING, "cp", (2, 36), "", None, files)})
        tool = LockedFile("uv", uv_version, "uv.whl", "0" * 64)
        lock = Lock({"beta": pin}).with_tool(tool, AMD64).with_tool(tool, ARM64)
        command = container_of(lock, Mode.PACKAGE, ["beta"], target="here").command
        assert command[:2] == ["sh", "-c"] and list(branches(command[2])) == ["x86_64", "aarch64"]
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "uv").symlink_to(uv)
        env = {"PATH": f"{tmp_path / 'env' / 'bin'}:{tmp_path / 'bin'}:/usr/bin:/bin"}
        probe = "import importlib.metadata as m; print(m.version('alpha'), m.version('beta'))"
        proc = subprocess.run(["sh", "-c", command[2], "python3", "-c", probe], env=env, capture_output=True,
                              text=True, timeout=120)
    finally:
        running.stop()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{mine} 1.0.0\n"
