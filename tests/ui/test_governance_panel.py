"""Browser: the model version page shows the policy evaluation (rules with observed value,
threshold and result) and promotion requests; an approver approves with the page's form
(session CSRF token); the requester gets no buttons, and a forged form is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from tests.conftest import LiveServer
from tests.governance.policy.support import LF, PASSWORD, POLICY, build_world, ok


def _login(page: Page, base: str, user: str, target: str) -> None:
    page.goto(f"{base}/login?next={target}")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}{target}*")


def test_approver_approves_from_the_version_page(
    page: Page, make_live_server: Callable[[ServerConfig], LiveServer], tmp_path: Path
) -> None:
    config = ServerConfig(
        backend_store_uri=f"sqlite:///{tmp_path / 'ui.db'}",
        artifacts_destination=str(tmp_path / "artifacts"),
        auth_required=True,
        promotion_gate=True,
        sign_models_at_registration=True,
    )
    live = make_live_server(config)
    world = build_world(TestClient(live.app))
    ok(world.upload_policy(POLICY))
    version = world.new_version()
    world.good_facts(version, accuracy=0.93)
    request = ok(
        world.call(
            "dave",
            "POST",
            f"{LF}/promotion-requests/create",
            {
                "name": world.model,
                "version": str(version),
                "target": "alias:champion",
                "justification": "ship it",
            },
        )
    )["promotion_request"]
    version_path = f"/models/{world.model}/versions/{version}"

    # The requester sees the evaluation and the request, but no approve button.
    _login(page, live.url, "dave", version_path)
    expect(page.locator("#evaluation-decision")).to_have_text("pass")
    acc = page.locator('#evaluation-rules tr[data-rule="acc"]')
    expect(acc).to_contain_text("0.93")
    expect(acc).to_contain_text(">= 0.9")
    expect(acc).to_contain_text("pass")
    expect(page.locator('#evaluation-rules tr[data-rule="lat"]')).to_contain_text("warn")
    row = page.locator(f'#promotion-requests tr[data-request="{request["request_id"]}"]')
    expect(row).to_contain_text("REQUESTED")
    expect(row.locator("button.approve")).to_have_count(0)
    page.context.clear_cookies()

    # An approver approves through the form.
    _login(page, live.url, "bob", version_path)
    row = page.locator(f'#promotion-requests tr[data-request="{request["request_id"]}"]')
    row.locator('input[name="comment"]').fill("looks good")
    row.locator("button.approve").click()
    expect(page.locator("#governance-notice")).to_contain_text("APPROVED")
    expect(page.locator(f'#promotion-requests tr[data-request="{request["request_id"]}"]')).to_contain_text(
        "bob: approve"
    )
    # The same post without the session's CSRF token is refused by the auth layer.
    forged = page.request.post(
        f"{live.url}{version_path}/promotion-requests/reject",
        form={"csrf_token": "forged", "request_id": request["request_id"]},
        max_redirects=0,
    )
    assert forged.status == 403
    found = ok(
        world.call("bob", "GET", f"{LF}/promotion-requests/get", {"request_id": request["request_id"]})
    )
    assert found["promotion_request"]["status"] == "APPROVED"
