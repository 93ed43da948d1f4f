"""The release pipeline: helper sources -> tested reproducible wheel -> private index -> image
-> lock. :func:`helperhub.release.run.release` runs it whole."""
