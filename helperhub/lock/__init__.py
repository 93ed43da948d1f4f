"""The lock (``pins.json``): the contract between a release and the pipelines that pin it.
Release writes it, pipelines read it; neither reaches into the other for it."""
