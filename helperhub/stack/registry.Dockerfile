# The registry image: pypiserver (pinned) and the project's registry server, served by
# `python3 -m helperhub.registry`. Everything is installed OFFLINE from the wheelhouse that
# helperhub/stack/registry_image.py puts into the build context (wheels/ and project/), so the build needs no
# index at all. Two stages so the wheels never end up in a layer of the final image; no BuildKit
# features, since the docker SDK builds with the classic builder.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_CONFIG_FILE=/dev/null \
    PIP_NO_INDEX=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1
COPY requirements.txt constraints.txt /context/
COPY wheels/ /context/wheels/
COPY project/ /context/project/
# The project wheel goes in with --no-deps: the image serves with pypiserver, cheroot, multipart, click and
# packaging only, not with the release tooling (kfp, docker, ...) the project also depends on.
RUN python3 -m venv /opt/registry \
 && /opt/registry/bin/python -m pip install --no-index --find-links /context/wheels \
      -r /context/requirements.txt -c /context/constraints.txt \
 && /opt/registry/bin/python -m pip install --no-index --no-deps /context/project/*.whl \
 && (/opt/registry/bin/python -m pip uninstall --yes --quiet setuptools wheel 2>/dev/null || true) \
 && /opt/registry/bin/python -c "import bcrypt, passlib.apache, pypiserver, cheroot, multipart, helperhub.registry.__main__"

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG PYPISERVER_VERSION=2.4.2
ARG SOURCE_REVISION=unknown

LABEL org.opencontainers.image.title="helperhub-registry" \
      org.opencontainers.image.description="pypiserver with the helperhub registry entry point" \
      org.opencontainers.image.version="${PYPISERVER_VERSION}" \
      org.opencontainers.image.revision="${SOURCE_REVISION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it and a PVC's fsGroup matches.
# /data/packages is the only path the server writes (uploads); everything else stays read-only.
RUN groupadd --gid 10001 registry \
 && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin registry \
 && mkdir -p /data/packages /etc/helperhub \
 && chown 10001:10001 /data/packages \
 && chmod 0750 /data/packages

COPY --from=build /opt/registry /opt/registry

# Bytecode was compiled by pip at build time; nothing is written at run time (read-only root).
# PYTHONSAFEPATH keeps the working directory off sys.path.
ENV VIRTUAL_ENV=/opt/registry \
    PATH=/opt/registry/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1

USER 10001:10001
WORKDIR /data
VOLUME ["/data/packages"]
EXPOSE 8080
# Python as PID 1 ignores SIGTERM (no handler), so a stop would wait out the whole grace period;
# SIGINT raises KeyboardInterrupt and the server exits at once. Docker and containerd/CRI-O honour it.
STOPSIGNAL SIGINT
# No HEALTHCHECK: the orchestrator probes GET /health (see registry/k8s/base/deployment.yaml).
ENTRYPOINT ["python3", "-m", "helperhub.registry", "--host", "0.0.0.0", "--port", "8080", \
            "--packages", "/data/packages", "--htpasswd", "/etc/helperhub/htpasswd"]
