"""`make bench`: the costs teams choose delivery modes on, measured side by side in one run."""
