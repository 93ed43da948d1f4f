# A KFP base image with one released helper package and the kfp runtime: exactly its locked
# closure, from the private index only. Rendered build args come from images/context.py; nothing else is copied in.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# Both layers install with uv, taken from the private index by the lock's sha256 (UV_BOOTSTRAP
# fetches, checks and unpacks it; it is removed again in the same layer): the helper's locked
# closure, every file by URL with its sha256 (--require-hashes) and --no-deps, nothing resolved,
# so two builds of one pin install the same files. --no-config, --no-index and no UV_* variable
# of the base image: no setting of it can add an index and shadow a private name.
ARG UV_URL
ARG UV_SHA256
ARG UV_VERSION
ARG UV_BOOTSTRAP
ARG UV_RECORD

# Layer 1: the third-party closure, kfp included. It depends only on the closure, so a new
# helper version with the same closure reuses it (cached, and already in the registry: a
# release pushes one small layer).
ARG DEPENDENCIES
RUN set -f \
 && for v in $(env | sed -n 's/^\(UV_[A-Z0-9_]*\)=.*/\1/p'); do case "$v" in UV_URL|UV_SHA256|UV_VERSION|UV_BOOTSTRAP|UV_RECORD) ;; *) unset "$v" ;; esac; done \
 && python3 -m venv --without-pip /opt/helpers \
 && tmp="$(mktemp -d)" \
 && python3 -c "${UV_BOOTSTRAP}" "${UV_URL}" "${UV_SHA256}" "${UV_VERSION}" "${tmp}" \
 && printf '%s\n' ${DEPENDENCIES} > "${tmp}/requirements.txt" \
 && "${tmp}/uv" pip install --python /opt/helpers/bin/python --no-config --no-index --no-deps \
      --require-hashes --no-cache --link-mode=copy --quiet -r "${tmp}/requirements.txt" \
 && rm -rf "${tmp}" \
 && find /opt/helpers -depth -name __pycache__ -type d -exec rm -rf {} +

# Layer 2: the released helper wheel and the helpers it depends on, the same way, and the record
# of their sha256 (uv keeps none in direct_url.json) that the step-start check reads,
# /opt/helpers/helperhub-install-report.json.
ARG REQUIREMENTS
ARG HELPER_NAME
RUN set -f \
 && for v in $(env | sed -n 's/^\(UV_[A-Z0-9_]*\)=.*/\1/p'); do case "$v" in UV_URL|UV_SHA256|UV_VERSION|UV_BOOTSTRAP|UV_RECORD) ;; *) unset "$v" ;; esac; done \
 && tmp="$(mktemp -d)" \
 && python3 -c "${UV_BOOTSTRAP}" "${UV_URL}" "${UV_SHA256}" "${UV_VERSION}" "${tmp}" \
 && printf '%s\n' ${REQUIREMENTS} > "${tmp}/requirements.txt" \
 && "${tmp}/uv" pip install --python /opt/helpers/bin/python --no-config --no-index --no-deps \
      --require-hashes --no-cache --link-mode=copy --quiet -r "${tmp}/requirements.txt" \
 && python3 -c "${UV_RECORD}" /opt/helpers/helperhub-install-report.json "${tmp}/requirements.txt" \
 && rm -rf "${tmp}" \
 && find /opt/helpers -depth -name __pycache__ -type d -exec rm -rf {} + \
 && /opt/helpers/bin/python -c "import importlib, os; importlib.import_module(os.environ['HELPER_NAME'].replace('-', '_'))"

# The user steps run as (IMAGE_USER, checked by images/context.py): root by default, the base
# image's user, so a step writes its outputs wherever a step on the base image can (a pipeline
# root bind-mounted by kfp.local's DockerRunner, /gcs, /minio, /s3 on backends without
# kubeflow/pipelines#10857). For clusters that enforce runAsNonRoot a numeric UID:GID, with an
# account `helper` for it (no home, no login shell). Everything above is installed as root, so
# /opt/helpers stays root-owned and read-only to any other user. Last, so both install layers are
# the same for every user.
ARG IMAGE_USER=root
RUN case "${IMAGE_USER}" in root) ;; *) \
      uid="${IMAGE_USER%%:*}" gid="${IMAGE_USER#*:}" \
   && { getent group "${gid}" >/dev/null || groupadd --system --gid "${gid}" helper; } \
   && { getent passwd "${uid}" >/dev/null || useradd --system --no-log-init --uid "${uid}" --gid "${gid}" \
          --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin helper; } ;; esac

ARG KFP_VERSION
ARG HELPER_VERSION
ARG WHEEL_SHA256
ARG SOURCE_REVISION
ARG RECIPE_SHA256
ARG CLOSURE_SHA256
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="${HELPER_NAME}" \
      org.opencontainers.image.version="${HELPER_VERSION}" \
      org.opencontainers.image.revision="${SOURCE_REVISION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      io.helperhub.package="${HELPER_NAME}" \
      io.helperhub.version="${HELPER_VERSION}" \
      io.helperhub.wheel-sha256="${WHEEL_SHA256}" \
      io.helperhub.kfp-version="${KFP_VERSION}" \
      io.helperhub.closure-sha256="${CLOSURE_SHA256}" \
      io.helperhub.recipe-sha256="${RECIPE_SHA256}" \
      io.helperhub.image-user="${IMAGE_USER}"

ENV VIRTUAL_ENV=/opt/helpers \
    PATH=/opt/helpers/bin:${PATH}

USER ${IMAGE_USER}
