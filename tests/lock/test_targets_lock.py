"""Lock format 3: per helper, its targets (facts, base, image, a closure per platform) and tools per
platform. A format-2 lock reads as the one target `default`; the old views (`pin.closure`,
`pin.image`, `lock.tools`) are the default target's on its first platform; dumps are byte-stable."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from helperhub.core.errors import LockError
from helperhub.core.targets import TargetFacts, default_facts
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin, dump_lock, load_lock, parse_lock
from helperhub.lock.target_pins import TargetPin
from tests.conftest import REPO

A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64
BASE = "127.0.0.1:5000/python@sha256:" + "1" * 64
NUMPY = LockedFile("numpy", "2.4.5", "numpy-2.4.5-cp311-cp311-manylinux_2_17_x86_64.whl", A)
SKLEARN = LockedFile("scikit-learn", "1.8.0", "scikit_learn-1.8.0-cp311-cp311-manylinux_2_17_x86_64.whl", B,
                     ("model",))
UV = LockedFile("uv", "0.13.8", "uv-0.13.8-py3-none-manylinux_2_17_x86_64.whl", C)

FORMAT_2 = json.dumps({
    "format": 2,
    "packages": {"tabular-helpers": {
        "closure": [NUMPY.to_json(), SKLEARN.to_json()],
        "commit": "c" * 40, "depends": [], "index_url": "http://127.0.0.1:8080/simple/", "kfp_version": "2.17.3",
        "image": {"base_image": BASE, "ref": "127.0.0.1:5000/tabular-helpers@sha256:" + "2" * 64,
                  "registry": "127.0.0.1:5000", "tag": "127.0.0.1:5000/tabular-helpers:1.0.0"},
        "released_at": "2026-01-01T00:00:00Z", "requires": ["kfp==2.17.3", "numpy>=1.26"], "sdist": "",
        "sdist_sha256": "", "sha256": D, "source_sha256": "", "url": "http://127.0.0.1:8080/packages/t.whl",
        "version": "1.0.0", "wheel": "tabular_helpers-1.0.0-py3-none-any.whl",
    }},
    "tools": {"uv": UV.to_json()},
}, indent=2, sort_keys=True) + "\n"


def test_a_format_2_lock_reads_as_the_default_target_and_writes_format_3() -> None:
    lock = parse_lock(FORMAT_2, "pins.json")
    pin = lock.require("tabular-helpers", fix="-")
    image = ImagePin("127.0.0.1:5000/tabular-helpers@sha256:" + "2" * 64, "127.0.0.1:5000/tabular-helpers:1.0.0",
                     BASE, "127.0.0.1:5000")
    assert pin.default_target == "default"
    assert pin.targets == {"default": TargetPin("3.11", "cp", (2, 36), BASE, image, {"linux/amd64": (NUMPY, SKLEARN)})}
    assert (pin.closure, pin.image) == ((NUMPY, SKLEARN), image)  # the views callers use
    assert lock.tools == {"uv": UV} and lock.platform_tools == {"uv": {"linux/amd64": UV}}
    text = dump_lock(lock)
    data = json.loads(text)
    assert data["format"] == 3 and data["tools"] == {"uv": {"linux/amd64": UV.to_json()}}
    entry = data["packages"]["tabular-helpers"]
    assert "closure" not in entry and "image" not in entry and entry["default_target"] == "default"
    assert entry["targets"]["default"]["closure"] == {"linux/amd64": [NUMPY.to_json(), SKLEARN.to_json()]}
    assert (entry["targets"]["default"]["python"], entry["targets"]["default"]["glibc"]) == ("3.11", [2, 36])
    again = parse_lock(text, "pins.json")
    assert again == lock and dump_lock(again) == text


def arm(f: LockedFile) -> LockedFile:
    return replace(f, filename=f.filename.replace("x86_64", "aarch64"), sha256=f.sha256[::-1].replace("a", "e"))


def two_targets() -> Lock:
    py311 = TargetPin.of(
        TargetFacts("3.11", "cp", (2, 36), "x86_64"), base_image=BASE,
        image=ImagePin("r:5000/t@sha256:" + "3" * 64, "r:5000/t:1.0.0", BASE, "r:5000",
                       {"linux/amd64": "sha256:" + "4" * 64, "linux/arm64": "sha256:" + "5" * 64}),
        closure={"linux/arm64": (arm(NUMPY), arm(SKLEARN)), "linux/amd64": (NUMPY, SKLEARN)},
    )
    np313 = LockedFile("numpy", "2.4.5", "numpy-2.4.5-cp313-cp313-manylinux_2_17_x86_64.whl", "f" * 64)
    py313 = TargetPin("3.13", "cp", (2, 41), "127.0.0.1:5000/python@sha256:" + "6" * 64, None,
                      {"linux/amd64": (np313,)})
    pin = PackagePin("t", "1.0.0", "t-1.0.0-py3-none-any.whl", D, "http://i/packages/t-1.0.0-py3-none-any.whl",
                     "http://i/simple/", "2.17.3", "c" * 40, "2026-01-01T00:00:00Z",
                     targets={"py313": py313, "py311": py311})  # declared first: the default
    return Lock({"t": pin}, platform_tools={"uv": {"linux/arm64": arm(UV), "linux/amd64": UV}})


def test_two_targets_on_two_platforms_round_trip_byte_for_byte(tmp_path: Path) -> None:
    lock = two_targets()
    text = dump_lock(lock)
    again = parse_lock(text, "pins.json")
    assert again == lock and dump_lock(again) == text
    pin = again.require("t", fix="-")
    assert pin.default_target == "py313" and list(pin.targets) == ["py313", "py311"]  # the default first
    assert pin.closure == pin.targets["py313"].closure["linux/amd64"] and pin.image is None
    py311 = pin.require_target("py311")
    assert py311.platforms == ("linux/amd64", "linux/arm64")
    assert py311.files("linux/arm64")[0].filename.endswith("aarch64.whl") and py311.files() == (NUMPY, SKLEARN)
    assert py311.facts("linux/arm64") == TargetFacts("3.11", "cp", (2, 36), "aarch64")
    assert py311.image is not None and py311.image.platforms["linux/arm64"] == "sha256:" + "5" * 64
    assert again.tools == {"uv": UV} and again.require_tool("uv", "linux/arm64") == arm(UV)
    data = json.loads(text)
    assert data["packages"]["t"]["default_target"] == "py313"
    assert "image" not in data["packages"]["t"]["targets"]["py313"]
    assert list(data["tools"]["uv"]) == ["linux/amd64", "linux/arm64"]
    with pytest.raises(LockError, match=r"has no target 'py312'; it has py313, py311: re-release it"):
        pin.require_target("py312")


def test_the_old_views_read_and_change_the_default_target_only() -> None:
    lock = two_targets()
    pin = lock.require("t", fix="-")
    moved = pin.with_closure((replace(NUMPY, version="2.4.6"),))
    assert moved.targets["py313"].closure["linux/amd64"][0].version == "2.4.6"
    assert moved.targets["py311"] == pin.targets["py311"]
    image = ImagePin("r:5000/t@sha256:" + "7" * 64, "r:5000/t:1.0.0", "b@sha256:" + "8" * 64, "r:5000")
    built = pin.with_image(image)
    assert built.image == image and built.targets["py313"].base_image == "b@sha256:" + "8" * 64
    assert built.targets["py311"] == pin.targets["py311"] and built.default_target == "py313"
    assert pin.with_closure(()).closure == () and pin.with_closure(()).targets["py311"].files()
    assert pin.with_closure((NUMPY,)).closure == (NUMPY,)
    # a pin made the way of today's release: its closure and image are the target "default"
    legacy = PackagePin("t", "1.0.0", "w", D, "u", "i", "2.17.3", "c", "r").with_closure((NUMPY,)).with_image(image)
    assert legacy.targets == {"default": TargetPin.of(default_facts(), base_image=image.base_image, image=image,
                                                      closure={"linux/amd64": (NUMPY,)})}
    bare = PackagePin("t", "1.0.0", "w", D, "u", "i", "2.17.3", "c", "r")
    assert bare.targets == {} and (bare.closure, bare.image) == ((), None)
    assert parse_lock(dump_lock(Lock({"t": bare})), "pins.json") == Lock({"t": bare})
    assert bare.with_image(image).targets["default"].image == image


def test_the_committed_lock_is_format_3_and_byte_stable() -> None:
    text = (REPO / "pins.json").read_text()
    lock = load_lock(REPO / "pins.json")
    assert json.loads(text)["format"] == 3 and dump_lock(lock) == text
    for pin in lock.packages.values():
        assert pin.closure and pin.image is not None, pin.name


def broken(change: dict[str, object]) -> str:
    data = json.loads(dump_lock(two_targets()))
    target = data["packages"]["t"]["targets"]["py311"]
    for key, value in change.items():
        if value is None:
            del target[key]
        else:
            target[key] = value
    return json.dumps(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"closure": {"linux/s390x": []}}, "closure that is not linux/amd64 or linux/arm64 -> files; upgrade"),
        ({"python": "3"}, "has facts that are not a Python 3.x, cp or pp, a glibc [2, N] and a base"),
        ({"glibc": [2, "36"]}, "has facts that are not"),
        ({"implementation": "jython"}, "has facts that are not"),
        ({"base_image": None}, "target 'py311' is not python, implementation, glibc, base_image, closure"),
        ({"arch": "arm64"}, "target 'py311' is not python"),
        ({"image": {"ref": "r", "tag": "t", "base_image": "b", "registry": "r", "platforms": {"linux/arm64": "x"}}},
         "image platforms that are not linux/amd64 or linux/arm64 -> sha256 digest"),
        ({"image": {"ref": "r"}}, "has an image that is not ref, tag, base_image, registry"),
    ],
)
def test_a_broken_target_is_a_one_line_error(change: dict[str, object], message: str) -> None:
    with pytest.raises(LockError) as err:
        parse_lock(broken(change), "pins.json")
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("pins.json entry 't'")


def test_a_lock_with_a_default_it_lacks_or_tools_of_another_platform_is_refused() -> None:
    data = json.loads(dump_lock(two_targets()))
    data["packages"]["t"]["default_target"] = "py312"
    with pytest.raises(LockError, match=r"entry 't' has the default target 'py312' but the targets \['py311', 'py313'"):
        parse_lock(json.dumps(data), "pins.json")
    data = json.loads(dump_lock(two_targets()))
    data["tools"]["uv"]["linux/riscv64"] = UV.to_json()
    with pytest.raises(LockError, match="pins tools for platforms other than linux/amd64 and linux/arm64"):
        parse_lock(json.dumps(data), "pins.json")
    data = json.loads(dump_lock(two_targets()))
    data["packages"]["t"]["closure"] = []  # a format-2 key in a format-3 lock
    with pytest.raises(LockError, match=r"unknown keys \['closure'\]"):
        parse_lock(json.dumps(data), "pins.json")
