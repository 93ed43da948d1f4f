"""Component factories that use released helpers by pin, and the example pipeline.

The public API::

    from helperhub.pipelines import Delivery, Mode, helper_component, run_locally

    delivery = Delivery.from_lock("pins.json", mode="image")   # or "package", ...

    @helper_component(helpers=["tabular-helpers[model]"], delivery=delivery)
    def train(...): ...
"""

from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.factory import helper_component
from helperhub.pipelines.local_run import run_locally

__all__ = ["Delivery", "Mode", "helper_component", "run_locally"]
