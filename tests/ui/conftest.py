"""Browser fixtures: Debian's Chromium driven by Playwright (no browser downloads), and a
seeding helper that writes data through the live server's public REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


class Seeder:
    """Creates experiments, runs, metrics and artifacts the way a client would: over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.clock = int(time.time() * 1000) - 3_600_000

    def close(self) -> None:
        self.http.close()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(f"/api/2.0/mlflow/{path}", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def experiment(self, name: str) -> str:
        return str(self.post("experiments/create", {"name": name})["experiment_id"])

    def run(
        self,
        experiment_id: str,
        name: str,
        *,
        params: dict[str, str] | None = None,
        metrics: dict[str, list[float]] | None = None,
        tags: dict[str, str] | None = None,
        finished: bool = True,
    ) -> str:
        # Distinct, increasing start times keep the default order (newest first) predictable.
        self.clock += 1000
        created = self.post(
            "runs/create", {"experiment_id": experiment_id, "run_name": name, "start_time": self.clock}
        )
        run_id = str(created["run"]["info"]["run_id"])
        points = [
            {"key": key, "value": value, "timestamp": self.clock + step, "step": step}
            for key, values in (metrics or {}).items()
            for step, value in enumerate(values)
        ]
        self.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
                "metrics": points,
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            },
        )
        if finished:
            self.post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": self.clock + 754})
        return run_id

    def artifact(self, experiment_id: str, run_id: str, path: str, data: bytes) -> None:
        url = f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/{path}"
        response = self.http.put(url, content=data)
        assert response.status_code == 200, response.text


@pytest.fixture
def seed(live_server: LiveServer) -> Iterator[Seeder]:
    seeder = Seeder(live_server.url)
    yield seeder
    seeder.close()
