"""Registered-model names and aliases that only look valid: leading or trailing whitespace
(spaces, tabs, line breaks, Unicode spaces) and a trailing newline behind a regex ``$``, on
every backend (MySQL's PAD SPACE collation would even make ``"m "`` collide with ``"m"``)."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.store.registry_support import call, create_model, create_version, fails, get_model, ok

PADDED = [" lead", "trail ", "\ttab", "nl\n", "\r\nboth\r\n", "\u00a0nbsp", "em\u2003", "\vvt", "ff\f"]


@pytest.mark.parametrize("name", PADDED)
def test_a_padded_name_is_refused_on_create_and_rename(api: Api, name: str) -> None:
    message = fails(api, "POST", "registered-models/create", {"name": name}, 400, "INVALID_PARAMETER_VALUE")
    assert (
        message
        == f"Invalid model name: {name!r}. Registered model names cannot begin or end with whitespace."
    )
    assert call(api, "GET", "registered-models/search", {}).json() == {}

    create_model(api, "plain")
    body = {"name": "plain", "new_name": name}
    fails(api, "POST", "registered-models/rename", body, 400, "INVALID_PARAMETER_VALUE")
    assert get_model(api, "plain")["name"] == "plain"


def test_whitespace_only_names_are_missing_values_as_in_mlflow(api: Api) -> None:
    for name in ("   ", "\t\n"):
        message = fails(
            api, "POST", "registered-models/create", {"name": name}, 400, "INVALID_PARAMETER_VALUE"
        )
        assert message == "Missing value for required parameter 'name'."
    create_model(api, "m")
    message = fails(
        api,
        "POST",
        "registered-models/rename",
        {"name": "m", "new_name": " \n"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert message == "Missing value for required parameter 'new_name'."
    message = fails(api, "POST", "registered-models/rename", {"name": "m"}, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Missing value for required parameter 'new_name'."


def test_whitespace_inside_a_name_round_trips(api: Api) -> None:
    for name in ("two words", "tab\there", "line\nbreak"):
        create_model(api, name)
        assert get_model(api, name)["name"] == name
    renamed = ok(api, "POST", "registered-models/rename", {"name": "two words", "new_name": "three  words x"})
    assert renamed["registered_model"]["name"] == "three  words x"


@pytest.mark.parametrize("alias", ["champion\n", "latest\n", "v1\n", " champion", "champion ", "a\tb"])
def test_aliases_with_whitespace_are_refused(api: Api, alias: str) -> None:
    create_model(api, "m")
    create_version(api, "m")
    body = {"name": "m", "alias": alias, "version": "1"}
    message = fails(api, "POST", "registered-models/alias", body, 400, "INVALID_PARAMETER_VALUE")
    assert message == (
        f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
    )
    assert "aliases" not in get_model(api, "m")
