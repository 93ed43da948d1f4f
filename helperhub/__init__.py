"""helperhub: share KFP helper code as released wheels and base images, pinned in a lock.

Layers, each importing only the ones below it: ``cli`` -> ``pipelines`` -> ``release`` ->
``images`` -> ``registry`` -> ``core`` (checked by import-linter in ``make check``).
"""
