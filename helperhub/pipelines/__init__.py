"""Component factories that use released helpers by pin, and the example pipeline.

The public API::

    from helperhub.pipelines import Delivery, Mode, helper_component
"""

from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.factory import helper_component

__all__ = ["Delivery", "Mode", "helper_component"]
