"""The private index: the server (pypiserver with hardened storage and pre-rendered pages),
its nginx front and manifests, and the client the rest of the project reads it with.
The server side imports nothing of the release pipeline."""
