"""Every default of the project, in one place: the CLI's flags, the registry's server, the
image builds and the tests take their defaults from here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

REGISTRY_HOST = "127.0.0.1"  # the embedded registry listens on loopback only
REGISTRY_PORT = 8080  # the embedded registry, the registry image and the cluster Service
OCI_REGISTRY = "127.0.0.1:5000"  # where helper images are pushed (host:port)
BASE_IMAGE = "python:3.11-slim"  # what helper images and non-image steps are built FROM
STATE_DIR = ".hub"  # git-ignored, per checkout: embedded registry packages, credentials, runs
LOCK_NAME = "pins.json"  # the lock, at the repository root
MAX_UPLOAD_MB = 8192  # real ML wheels reach several GB
SERVER_THREADS = 8
MAX_CONCURRENT_UPLOADS = 4  # uploads stored at once; more get 503 and Retry-After
# The registry's Kubernetes Service (registry/k8s/base): how pods in the cluster reach the index.
CLUSTER_SERVICE, CLUSTER_NAMESPACE = "pypi", "helpers"


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """The wheelhouse and build cache: ``$XDG_CACHE_HOME/helperhub`` (``~/.cache/helperhub``)."""
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "helperhub"

# The platform package-mode steps and helper images run on (BASE_IMAGE's Python on Debian,
# glibc 2.36, x86_64): the lock's closure is resolved for it, whatever the release host is.
TARGET_PYTHON = "3.11"
TARGET_IMPLEMENTATION = "cp"
TARGET_MACHINE = "x86_64"
TARGET_GLIBC = (2, 36)
# The installer of package-mode steps and image builds: mirrored into the private index and
# pinned in the lock by sha256 like every other file a step installs.
UV_VERSION = "0.13.8"
