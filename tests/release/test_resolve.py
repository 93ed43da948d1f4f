"""The closure's resolution at release, pure: the resolver's command and the reading of pip's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from helperhub.core.targets import default_facts
from helperhub.lock.closure import LockedFile, for_extras
from helperhub.registry.client import IndexSettings
from helperhub.release.resolve import closure_from_report, resolve_args

REPORT = {"install": [
    {"metadata": {"name": "Helper", "version": "1.0", "requires_dist": [
        "numpy>=1", "scikit-learn; extra == 'model'", "matplotlib; extra == \"plots\"",
        "tomli; python_version < '3.11'"]},
     "download_info": {"url": "http://i/packages/helper-1.0-py3-none-any.whl",
                       "archive_info": {"hashes": {"sha256": "h" * 64}}}},
    *({"metadata": {"name": n, "version": v, "requires_dist": deps},
       "download_info": {"url": f"http://i/packages/{n}-{v}-py3-none-any.whl#sha256={n[0] * 64}",
                         "archive_info": {"hashes": {"sha256": n[0] * 64}}}}
      for n, v, deps in [("kfp", "2.17.3", ["numpy"]), ("numpy", "2.0", []), ("scikit-learn", "1.5", ["scipy"]),
                         ("scipy", "1.14", ["numpy"]), ("matplotlib", "3.9", ["numpy"])]),
]}


def test_closure_from_report_tags_what_only_an_extra_brings() -> None:
    closure = closure_from_report(REPORT, "helper", ["model", "plots"], ["kfp==2.17.3"],
                                  default_facts().marker_environment())
    assert [(f.name, f.version, f.extras) for f in closure] == [
        ("kfp", "2.17.3", ()), ("matplotlib", "3.9", ("plots",)), ("numpy", "2.0", ()),
        ("scikit-learn", "1.5", ("model",)), ("scipy", "1.14", ("model",))]
    assert closure[0] == LockedFile("kfp", "2.17.3", "kfp-2.17.3-py3-none-any.whl", "k" * 64)
    assert [f.name for f in for_extras(closure, ["plots"])] == ["kfp", "matplotlib", "numpy"]


def test_a_report_with_an_unasked_distribution_is_refused() -> None:
    extra = {"metadata": {"name": "stray", "version": "1"}, "download_info": {"url": "http://i/stray-1.whl"}}
    from helperhub.core.errors import RegistryError

    with pytest.raises(RegistryError, match="stray"):
        closure_from_report({"install": [*REPORT["install"], extra]}, "helper", ["model", "plots"],
                            ["kfp==2.17.3"], default_facts().marker_environment())


def test_resolve_args_ask_the_private_index_alone_for_the_target() -> None:
    args = resolve_args(IndexSettings("http://127.0.0.1:9/"), ["h==1"], default_facts(), Path("/tmp/x"))
    text = " ".join(args)
    assert text.startswith("pip --isolated install --dry-run --target /tmp/x --quiet --report - ")
    assert "--only-binary=:all: --python-version 3.11 --implementation cp --platform manylinux_2_36_x86_64" in text
    assert "--platform manylinux2014_x86_64" in text and "--platform manylinux_2_5_x86_64" in text
    assert text.endswith("--index-url http://127.0.0.1:9/simple/ --trusted-host 127.0.0.1 h==1")
    assert "--extra-index-url" not in text

