"""Scans on registration, stored on the version, enforced at load: through a live server,
our client, the real mlflow client, the REST API and the CLI."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

import ledgerflow
import ledgerflow.pyfunc
import ledgerflow.sklearn
from ledgerflow.cli.main import cli
from ledgerflow.client.fluent import reset_fluent_state
from ledgerflow.governance.scanning.unpickler import UnsafeModel
from ledgerflow.store.database import create_db_engine
from ledgerflow.store.governance.scanning_schema import model_version_scans
from tests.governance.scanning import payloads as p

SCAN = "/api/2.0/ledgerflow/model-versions/scan"
MARKER_ENV = "LEDGERFLOW_TEST_PWNED"


@pytest.fixture(autouse=True)
def fluent_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LEDGERFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI", "LEDGERFLOW_ALLOW_GLOBALS"):
        monkeypatch.delenv(name, raising=False)
    reset_fluent_state()
    yield
    reset_fluent_state()


def _scan(url: str, name: str, version: str = "1") -> dict[str, Any]:
    response = httpx.get(url + SCAN, params={"name": name, "version": version})
    assert response.status_code == 200, response.text
    return dict(response.json()["scan"])


def _log(url: str, name: str, tamper: Any = None) -> Any:
    """Log a RandomForest with our client and register it; ``tamper(model_dir)`` changes the
    saved directory before it is uploaded (a malicious model)."""
    ledgerflow.set_tracking_uri(url)
    ledgerflow.set_experiment(f"scan-{name}")
    forest = p.forest()

    def save(path: Any, mlmodel: Any) -> Any:
        saved = ledgerflow.sklearn.save_model(forest, path, mlmodel=mlmodel)
        if tamper is not None:
            tamper(Path(path))
        return saved

    from ledgerflow.models.logging import log_model

    with ledgerflow.start_run():
        return log_model("model", save, registered_model_name=name)


def _storage(url: str, name: str, live: Any) -> Path:
    location = httpx.get(
        url + "/api/2.0/mlflow/model-versions/get-download-uri", params={"name": name, "version": "1"}
    ).json()["artifact_uri"]
    rest = location.split("mlflow-artifacts:", 1)[1].lstrip("/")
    return Path(live.config.artifacts_destination) / rest


def _try_overwrite(url: str, name: str, live: Any, file: str, data: bytes) -> httpx.Response:
    """Try to replace a registered version's file through the artifact API (after its scan)."""
    stored = _storage(url, name, live)
    relative = stored.relative_to(Path(live.config.artifacts_destination)).as_posix()
    return httpx.put(f"{url}/api/2.0/mlflow-artifacts/artifacts/{relative}/{file}", content=data)


def test_clean_model_logged_by_our_client(live_server: Any) -> None:
    _log(live_server.url, "forest")
    scan = _scan(live_server.url, "forest")
    assert scan["status"] == scan["effective_status"] == "clean", scan
    assert scan["trigger"] == "registration" and not scan["stale"]
    paths = {item["path"] for item in scan["files"]}
    assert {"MLmodel", "model.pkl", "requirements.txt", "python_env.yaml", "conda.yaml"} <= paths
    assert all(len(item["sha256"]) == 64 for item in scan["files"])
    assert scan["second_opinion"]["scanner"] == "picklescan"
    assert scan["allowlist_version"] and scan["scanner_version"] and scan["manifest_digest"]
    model = ledgerflow.pyfunc.load_model("models:/forest/1")
    assert model.predict(np.zeros((2, 4))).shape == (2,)
    raw = ledgerflow.sklearn.load_model("models:/forest/1")
    assert type(raw).__name__ == "RandomForestClassifier"


def test_scan_facts_for_the_policy_engine(live_server: Any) -> None:
    _log(live_server.url, "facts")
    services = live_server.app.state.services if hasattr(live_server.app.state, "services") else None
    if services is None:
        pytest.skip("the app does not expose its services")
    facts = services.facts.collect("facts", 1)["scan"]
    assert facts["status"] == "clean" and facts["override"] is None and facts["findings"] == []


def _marker_payload(marker: Path) -> bytes:
    class Touch:
        def __reduce__(self) -> tuple[Any, ...]:
            return (shutil.copyfile, (__file__, str(marker)))

    return pickle.dumps(Touch())


MALICIOUS_FILES = {
    "os-system": lambda: p.system_pickle(),
    "memo-confusion": lambda: p.memo_confusion("os", "system", "id"),
    "builtins-exec": lambda: p.call_global("builtins", "exec", "import os"),
    "pytorch-zip": lambda: p.torch_archive(p.system_pickle()),
    "npy-object": lambda: p.object_npy(p.SystemCall()),
    "keras-lambda": lambda: p.keras_h5_lambda(),
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS_FILES))
def test_malicious_models_are_blocked_at_upload_and_at_load(
    live_server: Any, tmp_path: Path, kind: str
) -> None:
    marker = tmp_path / "pwned"

    def tamper(directory: Path) -> None:
        data = MALICIOUS_FILES[kind]()
        if kind in ("os-system", "memo-confusion", "builtins-exec"):
            (directory / "model.pkl").write_bytes(data)
        else:
            (directory / "extra" / "weights").parent.mkdir()
            (directory / "extra" / "weights").write_bytes(data)

    name = f"evil-{kind}"
    _log(live_server.url, name, tamper)
    scan = _scan(live_server.url, name)
    assert scan["status"] == "findings", scan
    with pytest.raises(UnsafeModel, match="scan is 'findings'"):
        ledgerflow.pyfunc.load_model(f"models:/{name}/1")
    assert not marker.exists()


def test_payload_never_runs_even_from_a_local_path(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    directory = tmp_path / "model"
    ledgerflow.sklearn.save_model(p.forest(), directory)
    (directory / "model.pkl").write_bytes(_marker_payload(marker))
    with pytest.raises(UnsafeModel, match=r"shutil\.copyfile"):
        ledgerflow.pyfunc.load_model(str(directory))
    with pytest.raises(UnsafeModel):
        ledgerflow.sklearn.load_model(str(directory))
    assert not marker.exists()


def test_logger_only_pickle_is_findings_and_names_the_global(live_server: Any) -> None:
    _log(live_server.url, "logger", lambda d: (d / "model.pkl").write_bytes(p.logger_pickle()))
    scan = _scan(live_server.url, "logger")
    assert scan["status"] == "findings"
    assert [f["global_name"] for f in scan["findings"]] == ["logging.getLogger"]
    assert scan["second_opinion"]["issues"] == 0  # the deny-list scanner sees nothing


def test_file_overwrite_through_the_api_is_refused_and_the_version_still_loads(
    live_server: Any, tmp_path: Path
) -> None:
    _log(live_server.url, "swapped")
    before = (_storage(live_server.url, "swapped", live_server) / "model.pkl").read_bytes()
    marker = tmp_path / "pwned"
    refused = _try_overwrite(live_server.url, "swapped", live_server, "model.pkl", _marker_payload(marker))
    assert refused.status_code == 403 and "immutable" in refused.json()["message"], refused.text
    assert (_storage(live_server.url, "swapped", live_server) / "model.pkl").read_bytes() == before
    scan = _scan(live_server.url, "swapped")
    assert scan["status"] == "clean" and scan["trigger"] == "registration", scan
    model = ledgerflow.pyfunc.load_model("models:/swapped/1")
    assert model.predict(np.zeros((1, 4))).shape == (1,)
    assert not marker.exists()


def test_restricted_unpickler_holds_after_a_direct_store_write(live_server: Any, tmp_path: Path) -> None:
    """The file is swapped in the store behind the server's back *and* both stored scans
    (the version's and the file's) forged to match it: every gate passes, and the restricted
    unpickler still refuses the global."""
    import hashlib

    from ledgerflow.artifacts.digests import location_hash
    from ledgerflow.governance.scanning.gate import local_digests
    from ledgerflow.store.governance.scanning_schema import artifact_scans

    _log(live_server.url, "forged")
    marker = tmp_path / "pwned"
    stored = _storage(live_server.url, "forged", live_server)
    payload = _marker_payload(marker)
    (stored / "model.pkl").write_bytes(payload)
    digests = local_digests(stored)
    report = {
        "files": [
            {"path": path, "sha256": sha, "size": 0, "formats": [], "imports": []}
            for path, sha in digests.items()
        ],
        "findings": [],
        "errors": [],
    }
    engine = create_db_engine(live_server.config.backend_store_uri)
    with engine.begin() as conn:
        conn.execute(model_version_scans.update().values(status="clean", report=json.dumps(report)))
        conn.execute(
            artifact_scans.update()
            .where(artifact_scans.c.location_hash == location_hash(str(stored / "model.pkl")))
            .values(status="clean", sha256=hashlib.sha256(payload).hexdigest(), size=len(payload))
        )
    engine.dispose()
    assert _scan(live_server.url, "forged")["status"] == "clean"
    with pytest.raises(UnsafeModel, match="not on the allow-list"):
        ledgerflow.pyfunc.load_model("models:/forged/1")
    assert not marker.exists()


def test_allow_list_upgrade_makes_results_stale_and_rescans(live_server: Any) -> None:
    _log(live_server.url, "stale")
    engine = create_db_engine(live_server.config.backend_store_uri)
    with engine.begin() as conn:
        conn.execute(model_version_scans.update().values(allowlist_version="2020.1.0", status="findings"))
    engine.dispose()
    scan = _scan(live_server.url, "stale")
    assert (
        scan["status"] == "clean" and scan["trigger"] == "stale" and scan["allowlist_version"] != "2020.1.0"
    )


def test_rescan_override_and_cli(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = live_server.url
    _log(url, "waived", lambda d: (d / "model.pkl").write_bytes(p.logger_pickle()))
    rescanned = httpx.post(url + SCAN + "/rescan", json={"name": "waived", "version": "1"}).json()["scan"]
    assert rescanned["trigger"] == "rescan" and rescanned["status"] == "findings"
    bad = httpx.post(
        url + SCAN + "/override", json={"name": "waived", "version": "1", "expires_at": "2999-01-01"}
    )
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    past = httpx.post(
        url + SCAN + "/override", json={"name": "waived", "version": "1", "reason": "x", "expires_at": 1000}
    )
    assert past.status_code == 400
    missing = httpx.post(url + SCAN + "/override", json={"name": "nobody", "version": "1", "reason": "x"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    import time

    expires = int(time.time() * 1000) + 3600_000
    done = httpx.post(
        url + SCAN + "/override",
        json={"name": "waived", "version": "1", "reason": "logger is harmless here", "expires_at": expires},
    )
    assert done.status_code == 200, done.text
    scan = done.json()["scan"]
    assert scan["status"] == "findings" and scan["effective_status"] == "overridden"
    assert scan["override"]["reason"] == "logger is harmless here" and scan["override"]["active"]
    records = httpx.get(
        url + "/api/2.0/ledgerflow/audit/records", params={"action": "registry.override_scan_result"}
    )
    assert records.status_code == 200 and records.json().get("records"), records.text
    # The override lets the gate pass; the runtime allow-list still needs the global trusted.
    with pytest.raises(UnsafeModel, match="logging.getLogger"):
        ledgerflow.pyfunc.load_model("models:/waived/1")
    loaded = ledgerflow.sklearn.load_model("models:/waived/1", allow_globals=["logging.getLogger"])
    assert type(loaded).__name__ == "Logger"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    result = CliRunner().invoke(cli, ["models", "scan-result", "-n", "waived", "-v", "1"])
    assert result.exit_code == 0 and "overridden" in result.output and "logging.getLogger" in result.output
    _log(url, "plain-logger", lambda d: (d / "model.pkl").write_bytes(p.logger_pickle()))
    result = CliRunner().invoke(cli, ["models", "scan-result", "-n", "plain-logger", "-v", "1", "--json"])
    assert result.exit_code == 1 and json.loads(result.output)["status"] == "findings"
    result = CliRunner().invoke(cli, ["models", "scan-result", "-n", "forest-none", "-v", "1"])
    assert result.exit_code != 0


@pytest.mark.compat
@pytest.mark.parametrize("fmt", ["cloudpickle", "skops"])
def test_model_logged_by_the_real_mlflow_client_is_clean(live_server: Any, fmt: str) -> None:
    import mlflow
    import mlflow.sklearn

    mlflow.set_tracking_uri(live_server.url)
    mlflow.set_experiment("scan-mlflow")
    extra = {"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if fmt == "skops" else {}
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            p.forest(), name="model", registered_model_name="mlflow-forest", serialization_format=fmt, **extra
        )
    scan = _scan(live_server.url, "mlflow-forest")
    assert scan["status"] == "clean", scan
    data_file = "model.pkl" if fmt == "cloudpickle" else "model.skops"
    assert any(item["path"].endswith(data_file) for item in scan["files"])
    if fmt == "skops":
        return
    model = ledgerflow.pyfunc.load_model("models:/mlflow-forest/1")
    assert model.predict(np.zeros((3, 4))).shape == (3,)


def test_version_page_shows_the_scan(live_server: Any) -> None:
    _log(live_server.url, "shown", lambda d: (d / "model.pkl").write_bytes(p.logger_pickle()))
    page = httpx.get(live_server.url + "/models/shown/versions/1")
    assert page.status_code == 200
    assert 'id="scan-status">findings<' in page.text
    assert "logging.getLogger" in page.text and "picklescan" in page.text
    _log(live_server.url, "shown-clean")
    assert 'id="scan-status">clean<' in httpx.get(live_server.url + "/models/shown-clean/versions/1").text


def test_registration_digests_match_the_stored_files_and_the_sbom(live_server: Any) -> None:
    # The scanner hashes the files while copying them (no second read): its digests must be
    # those of the stored bytes, and the same ones the SBOM lists for the signing manifest.
    import hashlib

    _log(live_server.url, "digests")
    scan = _scan(live_server.url, "digests")
    stored = _storage(live_server.url, "digests", live_server)
    on_disk = {
        path.relative_to(stored).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in stored.rglob("*")
        if path.is_file()
    }
    assert {item["path"]: item["sha256"] for item in scan["files"]} == on_disk
    sbom = httpx.get(
        live_server.url + "/api/2.0/ledgerflow/model-versions/sbom",
        params={"name": "digests", "version": "1"},
    ).json()
    properties = {p["name"]: p["value"] for p in sbom["metadata"]["component"]["properties"]}
    # The SBOM lists the signed files: all but its own file, sbom/cyclonedx.json.
    assert {
        k.removeprefix("ledgerflow:file:"): v
        for k, v in properties.items()
        if k.startswith("ledgerflow:file:")
    } == {path: sha for path, sha in on_disk.items() if path != "sbom/cyclonedx.json"}


def test_version_without_files_scans_clean_with_no_files(live_server: Any) -> None:
    api = f"{live_server.url}/api/2.0/mlflow"
    experiment = httpx.post(f"{api}/experiments/create", json={"name": "empty-version"}).json()
    info = httpx.post(f"{api}/runs/create", json={"experiment_id": experiment["experiment_id"]}).json()
    assert httpx.post(f"{api}/registered-models/create", json={"name": "empty"}).status_code == 200
    created = httpx.post(
        f"{api}/model-versions/create",
        json={
            "name": "empty",
            "source": f"{info['run']['info']['artifact_uri'].rstrip('/')}/model",
            "run_id": info["run"]["info"]["run_id"],
        },
    )
    assert created.status_code == 200, created.text
    scan = _scan(live_server.url, "empty")
    assert scan["status"] == "clean" and scan["files"] == [] and scan["errors"] == []
    assert scan["trigger"] == "registration" and not scan["stale"]


@pytest.mark.compat
def test_the_server_hands_no_client_the_files_of_a_blocked_version(live_server: Any, tmp_path: Path) -> None:
    """Stock clients unpickle whatever they download: the server refuses the download itself."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    marker = tmp_path / "pwned"
    _log(live_server.url, "evil-download", lambda d: (d / "model.pkl").write_bytes(_marker_payload(marker)))
    assert _scan(live_server.url, "evil-download")["status"] == "findings"
    params = {"name": "evil-download", "version": "1"}
    refused = httpx.get(live_server.url + "/api/2.0/mlflow/model-versions/get-download-uri", params=params)
    assert refused.status_code == 403 and refused.json()["error_code"] == "PERMISSION_DENIED"
    assert "scan is 'findings'" in refused.json()["message"]
    one_file = httpx.get(
        live_server.url + "/model-versions/get-artifact", params={**params, "path": "MLmodel"}
    )
    assert one_file.status_code == 403
    mlflow.set_tracking_uri(live_server.url)
    with pytest.raises(MlflowException, match="scan is 'findings'"):
        mlflow.pyfunc.load_model("models:/evil-download/1")
    assert not marker.exists()
    audit = httpx.get(
        live_server.url + "/api/2.0/ledgerflow/audit/records", params={"action": "scans.download_refused"}
    )
    assert audit.status_code == 200 and audit.json()["records"], audit.text
