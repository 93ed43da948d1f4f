"""Helper images: a released helper baked into a base image, pinned by digest. Builds are
rendered by pure functions (``context``) and run with the docker SDK (``engine``, ``stage``)."""
