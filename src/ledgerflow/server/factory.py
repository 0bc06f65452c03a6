"""Build the app from an environment variable, for uvicorn's multi-worker mode.

With ``--workers N`` uvicorn imports the app in each worker process by name, so the CLI
passes the configuration through ``LEDGERFLOW_SERVER_CONFIG`` (JSON) instead of an object.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette

from ledgerflow.config import ServerConfig
from ledgerflow.server.app import create_app

CONFIG_ENV = "LEDGERFLOW_SERVER_CONFIG"


def config_to_env(config: ServerConfig) -> str:
    return json.dumps(asdict(config))


def config_from_env() -> ServerConfig:
    raw: dict[str, Any] = json.loads(os.environ[CONFIG_ENV])
    raw["allowed_artifact_roots"] = tuple(raw.get("allowed_artifact_roots", ()))
    raw["webhook_allowed_hosts"] = tuple(raw.get("webhook_allowed_hosts", ()))
    raw["trusted_proxies"] = tuple(raw.get("trusted_proxies", ()))
    if raw.get("allowed_hosts") is not None:
        raw["allowed_hosts"] = tuple(raw["allowed_hosts"])
    raw["cors_allowed_origins"] = tuple(raw.get("cors_allowed_origins", ()))
    if "protected_aliases" in raw:
        raw["protected_aliases"] = tuple(raw["protected_aliases"])
    return ServerConfig(**raw)


def app_from_env() -> Starlette:
    return create_app(config_from_env())
