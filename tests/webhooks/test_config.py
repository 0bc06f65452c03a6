"""The allow-list reaches the server from the CLI and through the multi-worker environment."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from ledgerflow.cli.server import build_config, server
from ledgerflow.config import ServerConfig
from ledgerflow.server.factory import CONFIG_ENV, config_from_env, config_to_env


def test_cli_offers_the_allow_host_option() -> None:
    answer = CliRunner().invoke(server, ["--help"])
    assert answer.exit_code == 0 and "--webhook-allow-host" in answer.output


def test_allow_list_survives_the_worker_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ServerConfig(webhook_allowed_hosts=("127.0.0.1", "10.0.0.0/8"))
    monkeypatch.setenv(CONFIG_ENV, config_to_env(config))
    assert os.environ[CONFIG_ENV]
    assert config_from_env() == config


def test_build_config_keeps_the_allow_list() -> None:
    config = build_config("sqlite:///x.db", "a", None, True, (), None, ("hooks.internal",))
    assert config.webhook_allowed_hosts == ("hooks.internal",)
