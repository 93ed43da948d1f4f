"""Component factories that use released helpers by pin, and the example pipeline.

The public API::

    from helperhub.pipelines import Delivery, Mode, helper_component, run_locally

    delivery = Delivery.from_lock("pins.json", mode="image")   # or "package", ...

    @helper_component(helpers=["tabular-helpers[model]"], delivery=delivery)
    def train(...): ...

The names are imported on first use (PEP 562): ``run_locally`` pulls in kfp, which costs most of a
second, and the CLI imports submodules of this package (the catalog, the pins) that never need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helperhub.pipelines.delivery import Delivery
    from helperhub.pipelines.factory import helper_component
    from helperhub.pipelines.local_run import run_locally
    from helperhub.pipelines.modes import Mode

__all__ = ["Delivery", "Mode", "helper_component", "run_locally"]

# public name -> the submodule that defines it
_HOMES = {
    "Delivery": "helperhub.pipelines.delivery",
    "Mode": "helperhub.pipelines.modes",
    "helper_component": "helperhub.pipelines.factory",
    "run_locally": "helperhub.pipelines.local_run",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
