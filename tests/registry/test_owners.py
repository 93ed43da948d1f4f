"""The owners file: canonical globs to users, and one-line errors for a malformed file."""

from __future__ import annotations

import re

import pytest

from helperhub.core.errors import ConfigError
from helperhub.registry.server.owners import Ownership, parse_owners


def test_owners_file_maps_canonical_globs_to_users() -> None:
    rules = parse_owners('[owners]\n"Tabular_*" = ["alice"]\n"vision-helpers" = ["alice", " bob "]\n', "owners.toml")
    assert rules == (("tabular-*", ("alice",)), ("vision-helpers", ("alice", "bob")))
    assert Ownership(("alice", "bob"), "owners file").refusal("vision-helpers", "release") == (
        "vision-helpers belongs to alice, bob; ask one of them to release it, or to add you to the owners file")
    assert Ownership((), "").allows("anyone") and not Ownership((), "owners file").allows("anyone")


@pytest.mark.parametrize(("text", "says"), [
    ("[owners\n", "is not valid TOML"),
    ('owners = 1\n', "one [owners] table"),
    ('[owners]\n"x" = "alice"\n', "must be a list of user names"),
    ('[owners]\n"x" = [""]\n', "must be a list of user names"),
    ('[owners]\n"x" = ["a"]\n[extra]\n', "found extra"),
])
def test_malformed_owners_file_is_one_line_config_error(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)) as raised:
        parse_owners(text, "owners.toml")
    assert "\n" not in str(raised.value) and "owners.toml" in str(raised.value)

