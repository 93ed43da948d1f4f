"""Running the registry: the embedded registry, the Compose stack and its images, the registry's
own image, the nginx front's config and the cluster manifests, and the local OCI registry."""
