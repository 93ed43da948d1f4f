"""The index server: what the registry image runs. pypiserver's routes over a hardened store,
with pre-rendered simple-index pages (``simple/``) and the helper catalog (``catalog/``).
It imports nothing of the release pipeline, the images or the stack that runs it."""
