"""The one exception family of the project.

Every error a user can cause or fix is a ``HubError`` whose message says what is wrong and
what to do; the CLI catches it once and prints it as one line (as twine's ``exceptions.py``).
"""


class HubError(Exception):
    """Base class: a problem the user can act on."""


class ConfigError(HubError):
    """A setting, flag or input file is wrong."""


class VersionError(HubError):
    """A version is not valid PEP 440, or goes backwards."""


class RegistryError(HubError):
    """The package index cannot be reached or refused a request."""


class OwnershipError(RegistryError):
    """The index refused a write: the project belongs to another user or team."""


class IntegrityError(HubError):
    """Bytes differ from what was released or pinned: never silently replaced."""


class BuildError(HubError):
    """Tests, the build or a build check of a helper package failed."""


class GitError(HubError):
    """The git working tree is not in a state a release can come from."""


class LockError(HubError):
    """The lock file (pins.json) is unreadable or lacks a pin."""


class EngineError(HubError):
    """The Docker engine or the OCI registry failed or is missing."""


class MetadataError(HubError):
    """A distribution has no readable core metadata (METADATA, PKG-INFO)."""
