"""Check 13: `ledgerflow gate` exit codes (0 pass, 1 fail, 2 bad policy, 3 server down),
valid JUnit with one testcase per rule, the sample GitHub/GitLab jobs run against a live
server, and the stock MLflow client against the promotion gate (compat)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer
from tests.governance.policy.support import PASSWORD, POLICY, World, build_world, ok
from tests.listening import refusing_port

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "ledgerflow.cli"]


@pytest.fixture
def live_world(
    make_live_server: Callable[[ServerConfig], LiveServer], governed_config: ServerConfig
) -> tuple[LiveServer, World]:
    live = make_live_server(governed_config)
    return live, build_world(TestClient(live.app))


def _env(live: LiveServer, tmp_path: Path, user: str = "dave") -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MLFLOW_TRACKING_URI": live.url,
        "MLFLOW_TRACKING_USERNAME": user,
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "GIT_PYTHON_REFRESH": "quiet",
    }


def _gate(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "gate", *args], env=env, capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_exit_codes_and_junit(live_world: tuple[LiveServer, World], tmp_path: Path) -> None:
    live, world = live_world
    ok(world.upload_policy(POLICY))
    good = world.new_version(b"good")
    world.good_facts(good, accuracy=0.95)
    bad = world.new_version(b"bad")
    world.good_facts(bad, accuracy=0.5)
    env = _env(live, tmp_path)
    common = ["--model", world.model, "--target", "alias:champion"]
    passed = _gate(
        env,
        "evaluate",
        *common,
        "--version",
        str(good),
        "--format",
        "junit",
        "--output",
        str(tmp_path / "j.xml"),
    )
    assert passed.returncode == 0, passed.stderr
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["acc", "scan", "sig", "sbom", "4eyes", "lat"]
    assert suite.get("tests") == "6" and suite.get("failures") == "0"
    failed = _gate(env, "evaluate", *common, "--version", str(bad), "--format", "junit")
    assert failed.returncode == 1
    root = ET.fromstring(failed.stdout.split("?>", 1)[1])
    acc = next(c for c in root.iter("testcase") if c.get("name") == "acc")
    assert acc.find("failure") is not None
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text(POLICY.replace('op: ">="', 'op: "=>"'))
    usage = _gate(env, "evaluate", *common, "--version", str(good), "--policy", str(bad_policy))
    assert usage.returncode == 2 and "rules[0].op" in usage.stderr
    with refusing_port() as closed:
        down = _gate(
            {**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed}"},
            "evaluate",
            *common,
            "--version",
            "1",
        )
    assert down.returncode == 3, down.stderr
    markdown = _gate(env, "evaluate", *common, "--version", str(bad), "--format", "markdown")
    assert markdown.returncode == 1 and "| credit-prod | acc | metric_threshold | fail |" in markdown.stdout
    # request -> approve (a second person) -> promote, all from the CLI.
    refused = _gate(env, "request", *common, "--version", str(bad))
    assert refused.returncode == 1 and "credit-prod:acc" in refused.stderr
    made = _gate(env, "request", *common, "--version", str(good), "--justification", "ci")
    assert made.returncode == 0, made.stderr
    request_id = made.stdout.strip()
    own = _gate(env, "approve", "--request-id", request_id)
    assert own.returncode == 2 and "four-eyes" in own.stderr
    approved = _gate(_env(live, tmp_path, "bob"), "approve", "--request-id", request_id, "--comment", "lgtm")
    assert approved.returncode == 0 and approved.stdout.strip().endswith("APPROVED")
    promoted = _gate(env, "promote", "--request-id", request_id)
    assert promoted.returncode == 0 and "PROMOTED" in promoted.stdout
    again = _gate(env, "promote", "--request-id", request_id)
    assert again.returncode == 2


def _steps(document: dict[str, Any], job: str | None) -> list[str]:
    if job is None:  # GitLab: one job with a script list
        [(name, body)] = [(k, v) for k, v in document.items() if isinstance(v, dict) and "script" in v]
        return [line for line in body["script"] if line.startswith("ledgerflow gate")]
    steps = document["jobs"][job]["steps"]
    return [s["run"] for s in steps if "run" in s and s["run"].startswith("ledgerflow gate")]


@pytest.mark.parametrize(("file", "job"), [("github-actions-gate.yml", "gate"), ("gitlab-ci-gate.yml", None)])
def test_sample_ci_jobs_run_against_a_live_server(
    live_world: tuple[LiveServer, World], tmp_path: Path, file: str, job: str | None
) -> None:
    live, world = live_world
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version)
    document = yaml.safe_load((REPO / "docs" / "ci" / file).read_text())
    steps = _steps(document, job)
    assert steps
    env = {**_env(live, tmp_path), "MODEL": world.model, "VERSION": str(version), "GITHUB_RUN_ID": "7"}
    for step in steps:
        # Expand the step's variables as the CI shell would (GitHub ${{ }} inputs are env vars here).
        command = re.sub(r"\$\{\{[^}]*\}\}", "", step)
        argv = [os.path.expandvars(part) if "$" in part else part for part in shlex.split(command)]
        argv = [
            os.path.expandvars(a.replace("$MODEL", env["MODEL"]).replace("$VERSION", env["VERSION"]))
            for a in argv
        ]
        done = subprocess.run(
            [*CLI, *argv[1:]], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert done.returncode == 0, (step, done.stdout, done.stderr)
    assert (tmp_path / "gate-junit.xml").exists()


@pytest.mark.compat
def test_stock_mlflow_client_cannot_pass_the_gate(
    live_world: tuple[LiveServer, World], tmp_path: Path
) -> None:
    live, world = live_world
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version, accuracy=0.5)
    script = (
        "import json, os\n"
        "from mlflow.exceptions import MlflowException\n"
        "from mlflow import MlflowClient\n"
        "c = MlflowClient()\n"
        "out = {}\n"
        "try:\n"
        "    c.set_registered_model_alias(os.environ['MODEL'], 'champion', os.environ['VERSION'])\n"
        "    out['champion'] = 'ok'\n"
        "except MlflowException as e:\n"
        "    out['champion'] = e.error_code\n"
        "try:\n"
        "    c.transition_model_version_stage(os.environ['MODEL'], os.environ['VERSION'], 'Production')\n"
        "    out['production'] = 'ok'\n"
        "except MlflowException as e:\n"
        "    out['production'] = e.error_code\n"
        "out['staging'] = c.transition_model_version_stage(os.environ['MODEL'], os.environ['VERSION'], 'Staging').current_stage\n"
        "c.set_registered_model_alias(os.environ['MODEL'], 'candidate', os.environ['VERSION'])\n"
        "out['candidate'] = c.get_model_version_by_alias(os.environ['MODEL'], 'candidate').version\n"
        "print('RESULT ' + json.dumps(out))\n"
    )
    env = {**_env(live, tmp_path), "MODEL": world.model, "VERSION": str(version)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    import json

    result = json.loads(line[len("RESULT ") :])
    assert result == {
        "champion": "PERMISSION_DENIED",
        "production": "PERMISSION_DENIED",
        "staging": "Staging",
        "candidate": str(version),
    }
