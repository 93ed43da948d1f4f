# The registry's nginx front: Debian's nginx on the project's base image, installed from Debian's
# archive (the build runs with host networking), so no public image registry is needed. Where it
# runs supplies the config, the user (10001, the registry's, which owns the package volume) and
# the command: docker-compose.yml (registry/nginx/compose.conf) and the cluster's Deployment.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
# Where Debian's security updates come from ("" for none: an archive mirror without them).
ARG SECURITY_MIRROR=http://deb.debian.org/debian-security

LABEL org.opencontainers.image.title="helperhub-front" \
      org.opencontainers.image.description="Debian's nginx, the static front of the helperhub registry" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"

# wget: the health check, the same command as in the public nginx and registry images.
# policy-rc.d keeps the package scripts from starting nginx during the build.
RUN . /etc/os-release \
 && if [ -n "$SECURITY_MIRROR" ]; then \
      echo "deb $SECURITY_MIRROR $VERSION_CODENAME-security main" > /etc/apt/sources.list.d/security.list; fi \
 && printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx wget >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
      /usr/sbin/policy-rc.d /etc/nginx/sites-enabled/default \
 && nginx -v

EXPOSE 8080
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
