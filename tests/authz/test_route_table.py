"""Every route the app serves has an entry in the permission table (default deny otherwise)."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount, Route

from ledgerflow.config import ServerConfig
from ledgerflow.security.authz import route_permissions as rp
from ledgerflow.security.authz.enforce import Guard, experiment_of_artifact_path, route_requirements
from ledgerflow.server.app import api_table, create_app


def test_every_route_of_the_app_has_a_declared_requirement(tmp_path: Path) -> None:
    app = create_app(
        ServerConfig(backend_store_uri=f"sqlite:///{tmp_path / 'x.db'}", artifacts_destination=str(tmp_path))
    )
    missing = []
    checked = 0
    for route in app.routes:
        assert isinstance(route, (Route, Mount)), route
        assert isinstance(route.app, Guard), f"{route.path} is not behind the authorization guard"
        for method, requirement in route_requirements(route).items():
            checked += 1
            if requirement is None:
                missing.append(f"{method} {route.path}")
    assert missing == [], "routes without an entry in security/authz/route_permissions.py"
    assert checked > 150


def test_every_rest_endpoint_has_an_entry() -> None:
    missing = [f"{e.method} {e.path}" for e in api_table().endpoints if (e.method, e.path) not in rp.REST]
    assert missing == []


def test_endpoint_admin_flags_agree_with_the_table() -> None:
    for endpoint in api_table().endpoints:
        if endpoint.permission == "admin":
            assert rp.REST[(endpoint.method, endpoint.path)].access == rp.ADMIN, endpoint.path


def test_undeclared_route_is_refused() -> None:
    assert rp.requirement_for("GET", "/api/2.0/mlflow/not-declared") is None
    assert rp.requirement_for("POST", "/health") is None


def test_artifact_path_names_its_experiment_by_the_first_component_only() -> None:
    assert experiment_of_artifact_path("12/abc/artifacts/123456.txt") == 12
    assert experiment_of_artifact_path("/12/x") == 12
    for odd in ("", "abc/12/x", "12/../13/x", "./12/x", "1%32/x", "12\\x", "١٢/x", "-1/x"):
        assert experiment_of_artifact_path(odd) is None, odd
