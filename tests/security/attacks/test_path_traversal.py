"""Path traversal in every encoding, on every route that takes an artifact path, and in every
stored source or location: each is refused with INVALID_PARAMETER_VALUE, serves nothing from
beside the artifact root, and changes no row and no file (inside or beside the root).

Paths go out byte for byte over a raw HTTP connection to a real server, so dot segments and
encodings reach the app as an attacker would send them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.attacks.conftest import Target, refused

# Encodings of "climb two levels and read outside/secret.txt", as they appear in a URL.
CLIMBS: dict[str, str] = {
    "dotdot": "../../../../outside/secret.txt",
    "pct-encoded": "%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2foutside%2fsecret.txt",
    "pct-upper-mixed": "%2E%2E/..%2F%2e%2E/../outside/secret.txt",
    "double-encoded": "%252e%252e%252f%252e%252e%252f%252e%252e%252f%252e%252e%252foutside%252fsecret.txt",
    "triple-encoded": "%25252e%25252e%25252f%25252e%25252e%25252foutside",
    "backslash": "..%5c..%5c..%5c..%5coutside%5csecret.txt",
    "absolute": "%2fetc%2fpasswd",
    "nul-byte": "a.txt%00.png",
    "fullwidth-dots": "%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/outside/secret.txt",
    "two-dot-leader": "%E2%80%A5/%E2%80%A5/%E2%80%A5/outside/secret.txt",
    "fullwidth-solidus": "..%EF%BC%8F..%EF%BC%8F..%EF%BC%8Foutside",
    "file-uri": "file%3A%2F%2F%2Fetc%2Fpasswd",
    "drive-letter": "C%3A%5CWindows%5Cwin.ini",
    "inner-climb": "a/b/../../../../../outside/secret.txt",
}


def _routes(t: Target, climb: str) -> dict[str, tuple[str, str, bytes | None]]:
    w = t.world
    proxy = "/api/2.0/mlflow-artifacts/artifacts"
    run_path = f"{w.experiment_id}/{w.run_id}/artifacts"
    return {
        "proxy-get": ("GET", f"{proxy}/{run_path}/{climb}", None),
        "proxy-put": ("PUT", f"{proxy}/{run_path}/{climb}", b"planted"),
        "proxy-delete": ("DELETE", f"/ajax-api/2.0/mlflow-artifacts/artifacts/{run_path}/{climb}", None),
        "proxy-list": ("GET", f"{proxy}?path={run_path}/{climb}", None),
        "artifacts-list": ("GET", f"/api/2.0/mlflow/artifacts/list?run_id={w.run_id}&path={climb}", None),
        "get-artifact": ("GET", f"/get-artifact?run_uuid={w.run_id}&path={climb}", None),
        "ajax-get-artifact": (
            "GET",
            f"/ajax-api/2.0/mlflow/get-artifact?run_id={w.run_id}&path={climb}",
            None,
        ),
        "upload-artifact": (
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={w.run_id}&path={climb}",
            b"planted",
        ),
        "logged-model-file": (
            "GET",
            f"/ajax-api/2.0/mlflow/logged-models/{w.logged_model_id}/artifacts/files?artifact_file_path={climb}",
            None,
        ),
        "logged-model-dirs": (
            "GET",
            f"/api/2.0/mlflow/logged-models/{w.logged_model_id}/artifacts/directories"
            f"?artifact_directory_path={climb}",
            None,
        ),
        "ajax-model-version-artifact": (
            "GET",
            f"/ajax-api/2.0/mlflow/model-versions/get-artifact?name={w.model_name}&version=1&path={climb}",
            None,
        ),
        "model-version-artifact": (
            "GET",
            f"/model-versions/get-artifact?name={w.model_name}&version=1&path={climb}",
            None,
        ),
    }


ROUTE_NAMES = (
    "proxy-get",
    "proxy-put",
    "proxy-delete",
    "proxy-list",
    "artifacts-list",
    "get-artifact",
    "ajax-get-artifact",
    "upload-artifact",
    "logged-model-file",
    "logged-model-dirs",
    "model-version-artifact",
    "ajax-model-version-artifact",
)


# In the proxy routes the climb follows "<experiment>/<run>/artifacts/", where a leading slash or
# a scheme is no longer absolute (it names a folder inside the run); those two shapes are sent
# to the proxy root instead (test_proxy_path_that_is_absolute_after_the_prefix).
_SUFFIX_ONLY = {"absolute", "file-uri"}
_PROXY_ROUTES = {"proxy-get", "proxy-put", "proxy-delete", "proxy-list"}
CASES = [
    pytest.param(route, encoding, id=f"{route}-{encoding}")
    for route in ROUTE_NAMES
    for encoding in CLIMBS
    if not (route in _PROXY_ROUTES and encoding in _SUFFIX_ONLY)
]


@pytest.mark.parametrize(("route", "encoding"), CASES)
def test_traversal_is_refused_and_changes_nothing(target: Target, route: str, encoding: str) -> None:
    method, path, body = _routes(target, CLIMBS[encoding])[route]
    headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
    with target.unchanged():
        response = target.request(method, path, body=body, headers=headers)
        refused(response, 400, "INVALID_PARAMETER_VALUE")
    assert (target.outside / "secret.txt").read_text().startswith("TOP-SECRET")


def test_ui_artifact_page_refuses_traversal(target: Target) -> None:
    with target.unchanged():
        response = target.request(
            "GET", f"/runs/{target.world.run_id}/artifact?path=../../../../outside/secret.txt"
        )
    assert response.status == 400
    assert "TOP-SECRET" not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "//etc/passwd", id="get-absolute"),
        pytest.param("PUT", "//tmp/planted", id="put-absolute"),
        pytest.param("DELETE", "/%2ftmp", id="delete-encoded-absolute"),
        pytest.param("GET", "/file:%2f%2f%2fetc%2fpasswd", id="get-file-uri"),
        pytest.param("PUT", "/s3:%2f%2fbucket%2fkey", id="put-s3-uri"),
    ],
)
def test_proxy_path_that_is_absolute_or_a_uri(target: Target, method: str, path: str) -> None:
    body = b"planted" if method == "PUT" else None
    with target.unchanged():
        response = target.request(method, "/api/2.0/mlflow-artifacts/artifacts" + path, body=body)
        refused(response, 400, "INVALID_PARAMETER_VALUE")


def _sources(t: Target) -> dict[str, str]:
    w = t.world
    store = t.outside.parent
    run_uri = f"mlflow-artifacts:/{w.experiment_id}/{w.run_id}/artifacts"
    return {
        "file-uri-outside": f"file://{t.outside}",
        "bare-absolute-outside": str(t.outside),
        "file-uri-remote-host": f"file://evil.example{t.outside}",
        "file-uri-climb-from-run": f"file:{store}/artifacts/{w.experiment_id}/{w.run_id}/artifacts/../../../../outside",
        "proxy-dotdot": f"mlflow-artifacts:/{w.experiment_id}/../../outside",
        "proxy-pct": f"mlflow-artifacts:/{w.experiment_id}/%2e%2e/%2e%2e/outside",
        "proxy-double-pct": f"mlflow-artifacts:/{w.experiment_id}/%252e%252e/%252e%252e/outside",
        "proxy-backslash": f"mlflow-artifacts:/{w.experiment_id}\\..\\..\\outside",
        "proxy-nul": f"mlflow-artifacts:/{w.experiment_id}/model%00/x",
        "proxy-with-host": f"mlflow-artifacts://evil.example:80/{w.experiment_id}/{w.run_id}/artifacts",
        "query-climb": f"{run_uri}?x=../../..",
        "fragment-climb": f"{run_uri}#/../../..",
        "params-climb": f"{run_uri};x=/../../..",
        "query-below-run": f"{run_uri}/model?p=1",
        "fullwidth-below-run": f"{run_uri}/\uff0e\uff0e/\uff0e\uff0e",
        "runs-uri-climb": f"runs:/{w.run_id}/../../../outside",
        "runs-uri-pct": f"runs:/{w.run_id}/%2e%2e/%2e%2e/outside",
        "metadata-http": "http://169.254.169.254/latest/meta-data/",
        "foreign-s3": "s3://someone-elses-bucket/model",
        "foreign-https": "https://attacker.example/model",
    }


SOURCE_CASES = (
    "file-uri-outside",
    "bare-absolute-outside",
    "file-uri-remote-host",
    "file-uri-climb-from-run",
    "proxy-dotdot",
    "proxy-pct",
    "proxy-double-pct",
    "proxy-backslash",
    "proxy-nul",
    "proxy-with-host",
    "query-climb",
    "fragment-climb",
    "params-climb",
    "query-below-run",
    "fullwidth-below-run",
    "runs-uri-climb",
    "runs-uri-pct",
    "metadata-http",
    "foreign-s3",
    "foreign-https",
)


@pytest.mark.parametrize("case", SOURCE_CASES)
def test_model_version_source_is_refused(target: Target, case: str) -> None:
    body: dict[str, Any] = {
        "name": target.world.model_name,
        "source": _sources(target)[case],
        "run_id": target.world.run_id,
    }
    with target.unchanged():
        refused(
            target.request("POST", "/api/2.0/mlflow/model-versions/create", body=body),
            400,
            "INVALID_PARAMETER_VALUE",
        )


LOCATIONS = {
    "file-uri-outside": "file://{outside}",
    "bare-absolute": "/etc",
    "climb-from-root": "{root}/../outside",
    "pct-climb-from-root": "{root}/%2e%2e/outside",
    "empty-host-fragment": "http:///#/../../../../etc/",
    "query-string-climb": "http://h/base?../../..",
    "proxy-query": "mlflow-artifacts:/9?x=1",
    "proxy-fragment": "mlflow-artifacts:/9#x",
    "proxy-params": "mlflow-artifacts:/9;p=1",
    "proxy-host": "mlflow-artifacts://evil.example/9",
    "proxy-fullwidth": "mlflow-artifacts:/\uff0e\uff0e/x",
    "proxy-nested-uri": "mlflow-artifacts:/file:///etc",
    "proxy-dotdot": "mlflow-artifacts:/9/../../outside",
    "foreign-s3": "s3://someone-elses-bucket/x",
}


@pytest.mark.parametrize("case", list(LOCATIONS))
def test_experiment_artifact_location_is_refused(target: Target, case: str) -> None:
    location = LOCATIONS[case].format(outside=target.outside, root=target.outside.parent / "artifacts")
    with target.unchanged():
        response = target.request(
            "POST",
            "/api/2.0/mlflow/experiments/create",
            body={"name": f"loc-{case}", "artifact_location": location},
        )
        refused(response, 400, "INVALID_PARAMETER_VALUE")
