from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import tabular_helpers

INIT = Path(tabular_helpers.__file__)


def test_version_line_is_rewritable() -> None:
    text = INIT.read_text(encoding="utf-8")
    lines = re.findall(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert lines == [tabular_helpers.__version__]


def test_public_api() -> None:
    for name in tabular_helpers.__all__:
        assert hasattr(tabular_helpers, name), name
    assert (INIT.parent / "py.typed").is_file()


def test_import_does_not_load_optional_dependencies() -> None:
    code = (
        "import sys, tabular_helpers; "
        "print(any(m.split('.')[0] in ('matplotlib', 'sklearn') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(INIT.parent.parent)},
    )
    assert out.stdout.strip() == "False"
