"""Every default of the project, in one place: the CLI's flags, the registry's server, the
image builds and the tests take their defaults from here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

REGISTRY_HOST = "127.0.0.1"  # the embedded registry listens on loopback only
REGISTRY_PORT = 8080  # the embedded registry, the registry image and the cluster Service
OCI_REGISTRY = "127.0.0.1:5000"  # where helper images are pushed (host:port)
ENGINE_STATE = "/var/lib/helperhub"  # scripts/engine.sh's state (HUB_ENGINE_STATE): its OCI registry's storage
BASE_IMAGE = "python:3.11-slim"  # what helper images and non-image steps are built FROM
# The user helper images run as: root, the user of BASE_IMAGE and of KFP's own default base image,
# so an image-mode step writes its outputs wherever a step on the base image can (kfp.local's
# DockerRunner bind-mounts the caller's pipeline root; KFP backends without the launcher fix of
# kubeflow/pipelines#10857 write /gcs, /minio, /s3 as the image's user). Clusters that enforce
# runAsNonRoot set a numeric UID:GID instead: NON_ROOT_IMAGE_USER, say.
IMAGE_USER = "root"
NON_ROOT_IMAGE_USER = "10001:10001"  # the documented non-root setting (an account `helper`, no home)
STATE_DIR = ".hub"  # git-ignored, per checkout: embedded registry packages, credentials, runs
TOOL_PROJECT = "helperhub"  # the tool's own project: released into the index too, but not a helper
LOCK_NAME = "pins.json"  # the lock, at the repository root
MAX_UPLOAD_MB = 8192  # real ML wheels reach several GB
SERVER_THREADS = 8
# Connections the kernel queues for the registry's server (cheroot's own default is 5: an
# installer opening dozens at once would see the rest dropped and retried after SYN timeouts).
SERVER_BACKLOG = 1024
MAX_CONCURRENT_UPLOADS = 4  # uploads stored at once; more get 503 and Retry-After
# The registry's Kubernetes Service (registry/k8s/base): how pods in the cluster reach the index.
CLUSTER_SERVICE, CLUSTER_NAMESPACE = "pypi", "helpers"
# In the cluster the nginx front owns REGISTRY_PORT and the registry listens behind it on this one.
CLUSTER_REGISTRY_PORT = 8081
# overlays/shared-volume: the registry's own Service, which only the fronts reach (for writes).
CLUSTER_REGISTRY_SERVICE = "pypi-registry"
# The upload limit of registry/k8s/base (and the local overlay); production raises it to MAX_UPLOAD_MB.
CLUSTER_MAX_UPLOAD_MB = 256


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """The wheelhouse and build cache: ``$XDG_CACHE_HOME/helperhub`` (``~/.cache/helperhub``)."""
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "helperhub"

# The runtime of a repository that declares no targets (BASE_IMAGE's Python on Debian, glibc 2.36,
# x86_64): its closures are resolved for it, whatever the release host is. Declared targets read
# theirs from their base images.
TARGET_PYTHON = "3.11"
TARGET_IMPLEMENTATION = "cp"
TARGET_MACHINE = "x86_64"
TARGET_GLIBC = (2, 36)
# That runtime as a target: the one a repository without [tool.helperhub.targets.<name>] releases
# for, and the one a lock of format 2 (before targets) was resolved for.
TARGET_NAME = "default"
TARGET_PLATFORM = "linux/amd64"  # TARGET_MACHINE's platform
# The Pythons and CPUs the tool itself installs on (pyproject's requires-python): a release of the
# tool mirrors the closure of its base install and [local] for each, so that any team's runtime
# gets it from the private index alone.
TOOL_PYTHONS = ("3.11", "3.12", "3.13")
TOOL_MACHINES = ("x86_64", "aarch64")
# The installer of package-mode steps and image builds: mirrored into the private index and
# pinned in the lock by sha256 like every other file a step installs.
UV_VERSION = "0.13.8"
# Downloads a step's uv install runs at once. uv's default (50) connects in one burst: an index
# with a short listen queue (cheroot's default of 5: an older registry image, another server)
# drops the excess, which comes back only after the kernel's SYN retries (1, 3, 7, 15, 31 s).
# The install is bound by unpacking, not downloading: 4, 8 or 50 at once take the same time
# against a registry that queues the burst (SERVER_BACKLOG).
UV_CONCURRENT_DOWNLOADS = 4
# Simple pages a release reads at once (one keep-alive connection each) to check that the index
# still serves a closure: dozens of round trips in a row are most of an unchanged re-release.
# Under cheroot's default listen queue of 5 for the same reason as above.
INDEX_READERS = 4
# The registry stack of docker-compose.yml (`make compose-up`): the index behind its nginx front
# and an OCI registry, on loopback ports of the host, as one Compose project.
COMPOSE_FILE = "docker-compose.yml"
COMPOSE_PROJECT = "helperhub"
COMPOSE_INDEX_PORT = 8090  # the front of the index: not REGISTRY_PORT, so the embedded registry can run beside it
COMPOSE_OCI_PORT = 5090  # the stack's OCI registry: not OCI_REGISTRY's port, which `make engine` serves
CATCH_UP_WAIT = 900  # seconds a release waits for an index catching up after a start to take uploads
COMPOSE_TIMEOUT = 180  # seconds for starting the stack and passing every health check
COMPOSE_LOG_LINES = 30  # of a service that fails its health check, shown
# Debian's security archive, added to the stack's image builds ("" for a mirror without it).
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# The registry's webhooks (`registry serve --webhooks`): a delivery request may take this long, and a
# failed one is tried again after RETRY_MIN seconds, doubled each time up to RETRY_MAX.
WEBHOOK_TIMEOUT = 10.0
WEBHOOK_RETRY_MIN = 1.0
WEBHOOK_RETRY_MAX = 60.0
FEED_ENTRIES = 50  # the newest events an Atom feed of the registry holds
