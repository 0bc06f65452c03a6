"""Build the app from an environment variable, for uvicorn's multi-worker mode.

With ``--workers N`` uvicorn imports the app in each worker process by name, so the CLI
passes the configuration through ``LEDGERFLOW_SERVER_CONFIG`` (JSON) instead of an object.
"""

from __future__ import annotations

import gc
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
    # JSON has no tuples: every sequence setting of ServerConfig is a tuple, so every list
    # read back becomes one again (a new tuple setting needs no line here).
    restored: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value for key, value in raw.items()
    }
    return ServerConfig(**restored)


def app_from_env() -> Starlette:
    app = create_app(config_from_env())
    freeze_long_lived()
    return app


def freeze_long_lived() -> None:
    """Once a serving process has built its app: everything alive then (modules, SQLAlchemy's
    metadata, the routes: ~180,000 objects) lives as long as the process, and frozen, the
    cyclic collector stops rescanning it in each full collection (~100 ms each, one every few
    thousand requests). Only for server processes: a process that builds many apps (tests)
    would keep their cycles forever."""
    gc.collect()
    gc.freeze()
