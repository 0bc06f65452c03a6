"""Policy documents that cost or mislead: YAML anchor/alias bombs are refused before anything
is expanded (upload, evaluate, `gate evaluate --policy`), and a policy must have a rule."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledgerflow.cli.gate import gate
from ledgerflow.governance.policy import store
from ledgerflow.governance.policy.document import canonical_json, digest_of
from ledgerflow.governance.policy.reports import to_text
from tests.governance.policy.support import ADMIN, LF, POLICY, World, ok

# "Billion laughs": nine levels of nine aliases, a few hundred bytes that expand to 9**9 nodes.
BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ",".join([f"*{chr(ord('a') + i - 1)}"] * 9) + "]"
        for i in range(1, 9)
    ]
)
ANCHORS_MESSAGE = "policy documents may not use YAML anchors or aliases"
NO_RULES = POLICY.split("rules:")[0] + "rules: []\n"


def _refused(response: object) -> str:
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    return str(body["message"])


def test_alias_bomb_is_refused_at_once_on_upload_and_evaluate(world: World) -> None:
    assert len(BOMB.encode()) < 400
    version = world.new_version()
    started = time.process_time()
    assert ANCHORS_MESSAGE in _refused(world.upload_policy(BOMB))
    evaluated = world.call(
        "bob",
        "POST",
        f"{LF}/policies/evaluate",
        {"name": world.model, "version": str(version), "source": BOMB},
    )
    assert ANCHORS_MESSAGE in _refused(evaluated)
    # Expanding the bomb takes seconds; refusing it from the parser's events takes nothing.
    assert time.process_time() - started < 1.0
    assert ok(world.call(ADMIN, "GET", f"{LF}/policies/list"))["policies"] == []


def test_a_single_anchor_is_refused_too(world: World) -> None:
    anchored = POLICY.replace("metadata: {name: credit-prod}", "metadata: &m {name: credit-prod}")
    assert ANCHORS_MESSAGE in _refused(world.upload_policy(anchored))
    assert ok(world.upload_policy(POLICY))["policy"]["version"] == 1


def test_gate_cli_refuses_an_alias_bomb_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "bomb.yaml"
    policy.write_text(BOMB)
    result = CliRunner().invoke(
        gate,
        ["evaluate", "--model", "m", "--version", "1", "--policy", str(policy)],
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    assert result.exit_code == 2, result.output
    assert ANCHORS_MESSAGE in result.output


def test_a_policy_without_rules_is_refused_with_its_path(world: World, tmp_path: Path) -> None:
    message = _refused(world.upload_policy(NO_RULES))
    assert "at rules:" in message
    policy = tmp_path / "empty.yaml"
    policy.write_text(NO_RULES)
    result = CliRunner().invoke(
        gate,
        ["evaluate", "--model", "m", "--version", "1", "--policy", str(policy)],
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    assert result.exit_code == 2 and "at rules:" in result.output, result.output


def test_a_stored_rule_less_policy_from_before_still_loads(world: World) -> None:
    """A policy an earlier release accepted with no rules must not make every gated change fail."""
    document = {
        "apiVersion": "ledgerflow/v1",
        "kind": "PromotionPolicy",
        "metadata": {"name": "legacy-empty"},
        "scope": {"models": ["credit-*"], "targets": ["alias:champion"]},
        "rules": [],
    }
    world.services.db.run_write(
        lambda conn: store.insert_policy(
            conn,
            {
                "name": "legacy-empty",
                "version": 1,
                "digest": digest_of(document),
                "source": json.dumps(document),
                "document": canonical_json(document),
                "created_by": ADMIN,
                "creation_time": 1,
                "retired": False,
            },
        ),
        audit=False,
    )
    version = world.new_version()
    evaluation = ok(
        world.call(
            "bob",
            "POST",
            f"{LF}/policies/evaluate",
            {"name": world.model, "version": str(version), "target": "alias:champion"},
        )
    )["evaluation"]
    assert evaluation["decision"] == "pass" and evaluation["rules"] == []
    assert "policy legacy-empty has no rules to evaluate" in to_text(evaluation)


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ([], "(no policy in force for this model and target)"),
        ([{"name": "given", "version": None, "digest": "d"}], "(policy given has no rules to evaluate)"),
    ],
)
def test_text_report_says_whether_a_policy_was_evaluated(
    policies: list[dict[str, object]], expected: str
) -> None:
    evaluation = {
        "decision": "pass",
        "subject": {"name": "m", "version": 1},
        "policies": policies,
        "rules": [],
    }
    assert expected in to_text(evaluation)
