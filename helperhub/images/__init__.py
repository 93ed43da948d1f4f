"""Images: released helpers baked into base images (pinned by digest), the registry's own image,
and the Compose stack's images and runs. Builds are rendered by pure functions and run with the
docker SDK."""
