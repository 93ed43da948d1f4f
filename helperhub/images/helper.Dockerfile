# A KFP base image with one released helper package and the kfp runtime, installed from the
# private index only. Rendered build args come from images/context.py; nothing else is copied in.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# The user steps run as: a fixed numeric uid/gid (Kubernetes' runAsNonRoot can only verify a
# numeric USER), no home, no login shell. Everything below is installed as root, so /opt/helpers
# stays root-owned and read-only to it.
RUN groupadd --system --gid 10001 helper \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin helper

# Layer 1: the third-party closure and the kfp runtime. It depends only on the index and the
# requirement list, so a new helper version with the same dependencies reuses it (cached, and
# already in the registry: a release pushes one small layer).
# --isolated and PIP_CONFIG_FILE=/dev/null: no pip setting of the base image (an extra index in
# its environment or config) can add another index and shadow a private name.
ARG INDEX_URL
ARG TRUSTED_HOST
ARG DEPENDENCIES
RUN set -f \
 && python3 -m venv /opt/helpers \
 && PIP_CONFIG_FILE=/dev/null /opt/helpers/bin/python -m pip --isolated install --no-cache-dir \
      --disable-pip-version-check --no-input --only-binary=:all: \
      --index-url "${INDEX_URL}" ${TRUSTED_HOST:+--trusted-host "${TRUSTED_HOST}"} ${DEPENDENCIES} \
 && (/opt/helpers/bin/python -m pip uninstall --yes --quiet setuptools wheel 2>/dev/null || true) \
 && find /opt/helpers -depth -name __pycache__ -type d -exec rm -rf {} +

# Layer 2: the released helper wheel, by direct URL with its sha256 (pip refuses other bytes;
# its direct_url.json records that sha256). The helpers it depends on come from the index by
# version: pip's install report records the sha256 of every wheel this layer installed, kept
# (name, version, download_info only) as /opt/helpers/helperhub-install-report.json, which the
# step-start check reads for an installed helper that has no direct_url.json.
ARG REQUIREMENT
ARG HELPER_NAME
RUN report="$(mktemp)" \
 && PIP_CONFIG_FILE=/dev/null /opt/helpers/bin/python -m pip --isolated install --no-cache-dir \
      --disable-pip-version-check --no-input --only-binary=:all: --report "${report}" \
      --index-url "${INDEX_URL}" ${TRUSTED_HOST:+--trusted-host "${TRUSTED_HOST}"} "${REQUIREMENT}" \
 && /opt/helpers/bin/python -c 'import json, pathlib, sys; \
install = json.loads(pathlib.Path(sys.argv[1]).read_text())["install"]; \
kept = [{"metadata": {k: i["metadata"][k] for k in ("name", "version")}, "download_info": i["download_info"]} \
        for i in install]; \
pathlib.Path(sys.argv[2]).write_text(json.dumps({"install": kept}, indent=1, sort_keys=True) + "\n")' \
      "${report}" /opt/helpers/helperhub-install-report.json \
 && rm -f "${report}" \
 && find /opt/helpers -depth -name __pycache__ -type d -exec rm -rf {} + \
 && /opt/helpers/bin/python -c "import importlib, os; importlib.import_module(os.environ['HELPER_NAME'].replace('-', '_'))"

ARG KFP_VERSION
ARG HELPER_VERSION
ARG WHEEL_SHA256
ARG SOURCE_REVISION
ARG RECIPE_SHA256
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="${HELPER_NAME}" \
      org.opencontainers.image.version="${HELPER_VERSION}" \
      org.opencontainers.image.revision="${SOURCE_REVISION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.helperhub.package="${HELPER_NAME}" \
      io.helperhub.version="${HELPER_VERSION}" \
      io.helperhub.wheel-sha256="${WHEEL_SHA256}" \
      io.helperhub.kfp-version="${KFP_VERSION}" \
      io.helperhub.recipe-sha256="${RECIPE_SHA256}"

ENV VIRTUAL_ENV=/opt/helpers \
    PATH=/opt/helpers/bin:${PATH}

USER 10001:10001
