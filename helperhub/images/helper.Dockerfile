# A KFP base image with one released helper package and the kfp runtime, installed from the
# private index only. Rendered build args come from images/context.py; nothing else is copied in.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

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

# Layer 2: the released helper wheel, by direct URL with its sha256 (pip refuses other bytes).
ARG REQUIREMENT
ARG HELPER_NAME
RUN PIP_CONFIG_FILE=/dev/null /opt/helpers/bin/python -m pip --isolated install --no-cache-dir \
      --disable-pip-version-check --no-input --only-binary=:all: \
      --index-url "${INDEX_URL}" ${TRUSTED_HOST:+--trusted-host "${TRUSTED_HOST}"} "${REQUIREMENT}" \
 && find /opt/helpers -depth -name __pycache__ -type d -exec rm -rf {} + \
 && /opt/helpers/bin/python -c "import importlib, os; importlib.import_module(os.environ['HELPER_NAME'].replace('-', '_'))"

ARG KFP_VERSION
ARG HELPER_VERSION
ARG WHEEL_SHA256
ARG SOURCE_REVISION
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="${HELPER_NAME}" \
      org.opencontainers.image.version="${HELPER_VERSION}" \
      org.opencontainers.image.revision="${SOURCE_REVISION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.helperhub.package="${HELPER_NAME}" \
      io.helperhub.version="${HELPER_VERSION}" \
      io.helperhub.wheel-sha256="${WHEEL_SHA256}" \
      io.helperhub.kfp-version="${KFP_VERSION}"

ENV VIRTUAL_ENV=/opt/helpers \
    PATH=/opt/helpers/bin:${PATH}
