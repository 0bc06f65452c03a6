"""The README's governance walkthrough, end to end, against real processes.

``ledgerflow server`` (promotion gate, server-side signing, signatures required, secrets
blocked) on a loopback port over a fresh SQLite store; the policy, ``train.py`` and the
``ledgerflow listen`` line are the README's own, so the README cannot drift from what works.
The other shell steps are the README's commands: users, ``policies validate|upload``, grant,
``ledgerflow evaluate`` (with a sensitive column), ``gate evaluate|request|approve|promote``,
``models serve``, ``monitor log-batch``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from ledgerflow.cli.main import cli
from tests.listening import LISTENER_LINE, MODEL_LINE, announced_port

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "ledgerflow.cli"]
MODEL = "credit-default"
CHAMPION = ["--model", MODEL, "--target", "alias:champion"]
USERS = {"admin": "Root-Pass-2026!", "alice": "Train-Models-2026!", "bob": "Review-Models-2026!"}


def _walkthrough_blocks() -> dict[str, list[str]]:
    """The fenced blocks of the README's walkthrough section, by language."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Governance walkthrough\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
        blocks.setdefault(language, []).append(body)
    return blocks


def _wait_for(
    check: Callable[[], Any], what: str, process: subprocess.Popen[str], seconds: float = 40
) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = check()
        except (httpx.TransportError, OSError):  # not listening yet
            found = None
        if found:
            return found
        assert process.poll() is None, f"{what}: the process exited with {process.returncode}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Walkthrough:
    """Runs commands the way the README's shell does: as a user, in one working folder."""

    def __init__(self, folder: Path, store: str) -> None:
        self.folder, self.store = folder, store
        self.url = ""  # known once the server has announced the port it bound (serving_at)
        self.processes: list[subprocess.Popen[str]] = []
        # The reader's own environment, minus any tracking settings of the machine running tests.
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGERFLOW_", "MLFLOW_"))}
        self.base = {**base, "HOME": str(folder), "PYTHONUNBUFFERED": "1"}
        self.tokens: dict[str, str] = {}  # service accounts: they sign in with a token only

    def serving_at(self, url: str) -> None:
        self.url = self.base["LEDGERFLOW_TRACKING_URI"] = url

    def env(self, user: str | None) -> dict[str, str]:
        if user is None:
            return dict(self.base)
        if user in self.tokens:
            return {**self.base, "LEDGERFLOW_TRACKING_TOKEN": self.tokens[user]}
        return {
            **self.base,
            "LEDGERFLOW_TRACKING_USERNAME": user,
            "LEDGERFLOW_TRACKING_PASSWORD": USERS[user],
        }

    def run(
        self, argv: list[str], user: str | None = "alice", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=self.folder,
            env=self.env(user),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def ledgerflow(
        self, *args: str, user: str | None = "alice", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run([*CLI, *args], user, stdin)

    def cli(self, *args: str, user: str | None = "alice", stdin: str | None = None) -> Result:
        """The same command in this process (CliRunner): the heavy imports (sklearn, fairlearn,
        scipy) are paid once for the whole test instead of once per command."""
        env: dict[str, str | None] = {
            "LEDGERFLOW_TRACKING_USERNAME": None,
            "LEDGERFLOW_TRACKING_PASSWORD": None,
            "LEDGERFLOW_TRACKING_TOKEN": None,
        }
        env.update({k: v for k, v in self.env(user).items() if k.startswith("LEDGERFLOW_")})
        previous = Path.cwd()
        os.chdir(self.folder)
        try:
            return CliRunner().invoke(cli, list(args), env=env, input=stdin)
        finally:
            os.chdir(previous)

    def start(
        self, argv: list[str], log: str, user: str | None = "alice", **env: str
    ) -> subprocess.Popen[str]:
        with open(self.folder / log, "w", encoding="utf-8") as out:
            process = subprocess.Popen(
                argv,
                cwd=self.folder,
                env={**self.env(user), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.folder / name).read_text(encoding="utf-8")

    def http(self, user: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(user, USERS[user]), timeout=30)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[Walkthrough]:
    flow = Walkthrough(tmp_path, f"sqlite:///{tmp_path / 'gov.db'}")
    server = flow.start(
        [*CLI, "server", "--port", "0", "--backend-store-uri", flow.store, "--artifacts-destination",
         "./artifacts", "--promotion-gate", "--sign-models", "--require-signature", "--secret-policy", "block",
         "--webhook-allow-host", "127.0.0.1"],
        "server.log", user=None, LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD=USERS["admin"],
    )  # fmt: skip
    try:
        flow.serving_at(f"http://127.0.0.1:{announced_port(server, tmp_path / 'server.log')}")
        _wait_for(lambda: httpx.get(f"{flow.url}/health", timeout=1).text == "OK", "the server", server)
        yield flow
    finally:
        flow.stop()


def test_readme_governance_walkthrough(walkthrough: Walkthrough) -> None:
    flow = walkthrough
    blocks = _walkthrough_blocks()
    [policy] = blocks["yaml"]
    [train] = blocks["python"]
    assert "created the first administrator 'admin'" in flow.log("server.log").lower()
    for user in ("alice", "bob"):
        made = flow.cli(
            "users", "create", user, "--password-stdin", "--backend-store-uri", flow.store,
            user=None, stdin=USERS[user] + "\n",
        )  # fmt: skip
        assert made.exit_code == 0, made.output
    service = flow.cli("users", "create", "ci-bot", "--service", "--backend-store-uri", flow.store, user=None)
    assert service.exit_code == 0, service.output
    token = flow.cli(
        "tokens", "create", "--username", "ci-bot", "--name", "evaluate", "--scope", "write",
        "--backend-store-uri", flow.store, user=None,
    )  # fmt: skip
    assert token.exit_code == 0, token.output
    flow.tokens["ci-bot"] = token.stdout.strip()

    # The policy is checked offline, then the administrator uploads it.
    (flow.folder / "policy.yaml").write_text(policy, encoding="utf-8")
    checked = flow.cli("policies", "validate", "policy.yaml", user=None)
    assert checked.exit_code == 0 and "valid policy credit-prod (7 rules" in checked.stdout, checked.output
    uploaded = flow.cli("policies", "upload", "policy.yaml", user="admin")
    assert uploaded.exit_code == 0, uploaded.output
    assert uploaded.stdout.startswith("Policy credit-prod version 1 in force"), uploaded.stdout

    # alice trains and registers both models; the server scans and signs each version.
    (flow.folder / "train.py").write_text(train, encoding="utf-8")
    trained = flow.run([sys.executable, "train.py"])
    assert trained.returncode == 0, trained.stderr
    granted = flow.cli(
        "grants", "create", "registered-model", MODEL, "user:bob", "approver", "--backend-store-uri", flow.store,
        user=None,
    )  # fmt: skip
    assert granted.exit_code == 0, granted.output
    evaluate = ["evaluate", "--data", "holdout.csv", "--target", "y", "--sensitive", "sex", "--json", "-m"]
    # alice trained the models: the numbers the gate trusts are not hers to report.
    self_reported = flow.cli(*evaluate, f"models:/{MODEL}/2")
    assert self_reported.exit_code != 0, self_reported.output
    assert "needs the evaluator role" in str(self_reported.exception)
    evaluator = flow.cli(
        "grants", "create", "registered-model", MODEL, "user:ci-bot", "evaluator", "--backend-store-uri",
        flow.store, user=None,
    )  # fmt: skip
    assert evaluator.exit_code == 0, evaluator.output
    reader = flow.cli(
        "grants", "create", "experiment", "credit", "user:ci-bot", "viewer", "--backend-store-uri", flow.store,
        user=None,
    )  # fmt: skip
    assert reader.exit_code == 0, reader.output
    evaluated = {}
    for version in ("1", "2"):
        done = flow.cli(*evaluate, f"models:/{MODEL}/{version}", user="ci-bot")
        assert done.exit_code == 0, (done.output, done.exception)
        evaluated[version] = json.loads(done.stdout)
    reference = flow.cli(
        "monitor", "set-reference", "-n", MODEL, "-v", "2", "--data", "holdout.csv", "--exclude", "y,sex"
    )
    assert reference.exit_code == 0, reference.output
    assert "2000 rows; x0 (numeric), x1 (numeric), x2 (numeric)" in reference.stdout, reference.stdout
    assert evaluated["1"]["metrics"]["accuracy"] < 0.85 < evaluated["2"]["metrics"]["accuracy"]
    assert evaluated["1"]["fairness"]["demographic_parity_ratio.sex"] < 0.8
    assert evaluated["2"]["fairness"]["demographic_parity_ratio.sex"] >= 0.8

    # The weak model is blocked, naming the failing rules, at every door.
    weak = flow.ledgerflow("gate", "evaluate", *CHAMPION, "--version", "1")
    assert weak.returncode == 1, weak.stderr
    assert "[fail ] credit-prod:accuracy" in weak.stdout and "[fail ] credit-prod:four-fifths" in weak.stdout
    refused = flow.ledgerflow("gate", "request", *CHAMPION, "--version", "1")
    assert refused.returncode == 1
    assert "credit-prod:accuracy fail" in refused.stderr and "credit-prod:four-fifths fail" in refused.stderr
    with flow.http("alice") as alice:
        conflict = alice.post(
            "/api/2.0/ledgerflow/promotion-requests/create",
            json={"name": MODEL, "version": "1", "target": "alias:champion"},
        )
        assert conflict.status_code == 409 and conflict.json()["error_code"] == "RESOURCE_CONFLICT"
        assert "credit-prod:four-fifths" in conflict.json()["message"]
        direct = alice.post(
            "/api/2.0/mlflow/registered-models/alias",
            json={"name": MODEL, "alias": "champion", "version": "2"},
        )
        assert direct.status_code == 403 and direct.json()["error_code"] == "PERMISSION_DENIED"

    # The good one passes (the f1 rule only warns), is requested, approved by bob, promoted.
    good = flow.ledgerflow("gate", "evaluate", *CHAMPION, "--version", "2")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Policy gate PASS" in good.stdout and "[warn ] credit-prod:f1" in good.stdout
    requested = flow.ledgerflow(
        "gate", "request", *CHAMPION, "--version", "2", "--justification", "accurate and fair"
    )
    assert requested.returncode == 0, requested.stderr
    request_id = requested.stdout.strip()
    own = flow.ledgerflow("gate", "approve", "--request-id", request_id)
    assert own.returncode == 2 and "four-eyes" in own.stderr
    approved = flow.ledgerflow(
        "gate", "approve", "--request-id", request_id, "--comment", "reviewed", user="bob"
    )
    assert approved.returncode == 0 and approved.stdout.split() == [request_id, "APPROVED"], approved.stderr
    promoted = flow.ledgerflow("gate", "promote", "--request-id", request_id)
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.split() == [request_id, "PROMOTED", MODEL, "v2", "->", "alias:champion"]
    with flow.http("alice") as alice:
        champion = alice.get(
            "/api/2.0/mlflow/registered-models/alias", params={"name": MODEL, "alias": "champion"}
        )
        assert champion.json()["model_version"]["version"] == "2"
    # With a champion in place, the weak one now also regresses against it.
    again = flow.ledgerflow("gate", "evaluate", *CHAMPION, "--version", "1")
    assert again.returncode == 1 and "[fail ] credit-prod:no-regression" in again.stdout

    # Serving verifies the signature before the first request; predictions follow x0 + x1 > 0.
    serving = flow.start([*CLI, "models", "serve", "-m", f"models:/{MODEL}@champion", "-p", "0"], "serve.log")
    scoring = f"http://127.0.0.1:{announced_port(serving, flow.folder / 'serve.log', MODEL_LINE)}"
    _wait_for(
        lambda: httpx.get(f"{scoring}/ping", timeout=1).status_code == 200, "the scoring server", serving
    )
    with flow.http("alice") as alice:
        signature = alice.get(
            "/api/2.0/ledgerflow/model-versions/signature", params={"name": MODEL, "version": "2"}
        ).json()["signature"]
    assert signature["status"] == "valid"
    started = re.search(r"Signature verified: credit-default version 2, key (\w+)", flow.log("serve.log"))
    assert started is not None and started.group(1) == signature["key_id"], flow.log("serve.log")
    scored = httpx.post(
        f"{scoring}/invocations",
        json={
            "dataframe_split": {"columns": ["x0", "x1", "x2"], "data": [[1.0, 0.5, 0.0], [-1.0, -0.5, 1.0]]}
        },
        timeout=30,
    )
    assert scored.status_code == 200 and scored.json() == {"predictions": [1, 0]}, scored.text

    # Drift: the README's `ledgerflow listen` line receives the signed drift.alert webhook.
    shell = "".join(blocks["bash"])
    [secret] = re.findall(r"^export LEDGERFLOW_WEBHOOK_SECRET=(\S+)$", shell, flags=re.M)
    [listen] = [line for line in shell.splitlines() if line.startswith("ledgerflow listen ")]
    assert f'"secret": "{secret}"' in shell  # the webhook is created with the listener's secret
    argv = shlex.split(listen.split(">", 1)[0])[1:]
    assert "8099" in argv and "--once" in argv
    argv = ["0" if arg == "8099" else arg for arg in argv]
    listener = flow.start([*CLI, *argv], "alerts.log", user=None, LEDGERFLOW_WEBHOOK_SECRET=secret)
    listener_port = announced_port(listener, flow.folder / "alerts.log", LISTENER_LINE)
    with flow.http("admin") as admin:
        hook = admin.post(
            "/api/2.0/mlflow/webhooks",
            json={"name": "drift", "url": f"http://127.0.0.1:{listener_port}/drift", "events": ["drift.alert"],
                  "secret": secret},
        )  # fmt: skip
        assert hook.status_code == 200, hook.text
    steady = flow.cli("monitor", "log-batch", "-n", MODEL, "-v", "2", "--data", "holdout.csv")
    assert steady.exit_code == 0 and "Window 0: 0/3 features drifted" in steady.stdout + steady.stderr
    shifted = flow.cli("monitor", "log-batch", "-n", MODEL, "-v", "2", "--data", "shifted.csv")
    report = shifted.stdout + shifted.stderr
    assert shifted.exit_code == 0 and "Window 1: 2/3 features drifted" in report and "ALERT" in report, report

    # --once: the listener exits 0 after the first verified drift.alert (one JSON line).
    assert listener.wait(timeout=60) == 0, flow.log("alerts.log")
    [alert] = [json.loads(line) for line in flow.log("alerts.log").splitlines() if line.startswith("{")]
    assert (alert["event"], alert["entity"], alert["action"]) == ("drift.alert", "drift", "alert")
    assert alert["data"]["name"] == MODEL and alert["data"]["version"] == "2"
    assert sorted(alert["data"]["drifted_features"]) == ["x0", "x1"]
    with flow.http("alice") as alice:
        tags = alice.get("/api/2.0/mlflow/model-versions/get", params={"name": MODEL, "version": "2"}).json()[
            "model_version"
        ]["tags"]
    assert {"key": "monitoring.status", "value": "degraded"} in tags
