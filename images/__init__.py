"""Bake released helpers into base images, push them to an OCI registry, pin them by digest."""
