# The OCI registry of docker-compose.yml: Debian's docker-registry (distribution v2) on the
# project's base image, installed from Debian's archive (the build runs with host networking).
# Same config path, storage path and port as the public registry image, so the Compose service
# runs either one.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
# Where Debian's security updates come from ("" for none: an archive mirror without them).
ARG SECURITY_MIRROR=http://deb.debian.org/debian-security

LABEL org.opencontainers.image.title="helperhub-oci-registry" \
      org.opencontainers.image.description="Debian's docker-registry, the OCI registry of the helperhub stack" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# wget: the health check, the same command as in the public registry image.
# policy-rc.d keeps the package scripts from starting the registry during the build.
RUN . /etc/os-release \
 && if [ -n "$SECURITY_MIRROR" ]; then \
      echo "deb $SECURITY_MIRROR $VERSION_CODENAME-security main" > /etc/apt/sources.list.d/security.list; fi \
 && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry wget >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
      /usr/sbin/policy-rc.d \
 && install -d -o docker-registry -g docker-registry -m 0750 /var/lib/registry \
 && docker-registry --version

COPY config.yml /etc/docker/registry/config.yml
USER docker-registry
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
