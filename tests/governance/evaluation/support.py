"""Synthetic data and a registered model version over an in-process store, for the
evaluation and monitoring tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ledgerflow.client.client import Client

SOURCE = "mlflow-artifacts:/0/models/m-0/artifacts"


@dataclass
class Store:
    uri: str
    client: Client

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.client.transport.call(method, path, body or {})

    @property
    def services(self) -> Any:
        return self.client.transport.services  # type: ignore[attr-defined]

    def register(self, name: str) -> str:
        self.call("POST", "/2.0/mlflow/registered-models/create", {"name": name})
        version = self.call("POST", "/2.0/mlflow/model-versions/create", {"name": name, "source": SOURCE})
        return str(version["model_version"]["version"])


def local_store(tmp_path: Path) -> Store:
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    return Store(uri, Client(uri))


class ThresholdModel:
    """Predicts 1 when ``score`` > 0: selection rates are then set by the data alone."""

    def predict(self, data: pd.DataFrame) -> np.ndarray[Any, Any]:
        selected: np.ndarray[Any, Any] = (data["score"].to_numpy() > 0).astype(int)
        return selected


def selection_frame(ratio: float, per_group: int = 500, seed: int = 0) -> pd.DataFrame:
    """Groups a and b; the model selects 50% of a and ``ratio`` x 50% of b exactly."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, rate in (("a", 0.5), ("b", 0.5 * ratio)):
        selected = round(per_group * rate)
        score = np.where(np.arange(per_group) < selected, 1.0, -1.0)
        y = rng.integers(0, 2, per_group)
        rows.append(pd.DataFrame({"score": score, "sex": group, "y": y}))
    return pd.concat(rows, ignore_index=True)
