"""Images: released helpers baked into base images (pinned by digest), and the registry's own
image. Builds are rendered by pure functions and run with the docker SDK."""
