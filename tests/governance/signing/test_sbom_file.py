"""Check 6 as a file: each registered version has ``sbom/cyclonedx.json`` in its folder,
outside the signed manifest but checked against its SBOM attestation; seen by our client,
the stock mlflow client and the OMS reference verifier; a changed SBOM file is refused; shared
folders, a folder the server cannot write into, and the download gate of a blocked version."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

import ledgerflow.pyfunc
from ledgerflow.client.client import Client
from ledgerflow.errors import LedgerflowError
from ledgerflow.governance.signing import dsse, oms
from ledgerflow.governance.signing.attestations import PREDICATE_SBOM
from ledgerflow.governance.signing.keys import SigningKey, load_public_key
from ledgerflow.governance.signing.manifest import SBOM_FILE, LocalDirectory, hash_source
from ledgerflow.governance.signing.records import find_version
from ledgerflow.models.uri import download_model
from tests.governance.signing.test_enforcement import refusals

LF = "/api/2.0/ledgerflow"
MV = "/api/2.0/mlflow/model-versions"
# logging.getLogger() as a protocol-0 pickle: harmless, but not on the scanner's allow-list.
LOGGER_PICKLE = b"clogging\ngetLogger\n(tR."


def _params(reg: Any) -> dict[str, str]:
    return {"name": reg.name, "version": reg.version}


def _ref(reg: Any, name: str | None = None, version: str | None = None) -> Any:
    with reg.services.db.read() as conn:
        return find_version(conn, name or reg.name, version or reg.version)


def _signature(reg: Any, **params: str) -> dict[str, Any]:
    answer = httpx.get(f"{reg.url}{LF}/model-versions/signature", params=params or _params(reg))
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["signature"])


def test_the_sbom_file_is_written_attested_and_left_out_of_the_signature(
    register: Callable[..., Any], tmp_path: Path
) -> None:
    reg = register(sign_models_at_registration=True)
    written = reg.artifact_dir / SBOM_FILE
    data = written.read_bytes()
    # The file is the stored document, byte for byte, and a new generation gives the same bytes.
    sboms = reg.services.signing.sboms
    assert (
        data
        == sboms.generate(reg.name, reg.version).encode()
        == sboms.generate(reg.name, reg.version).encode()
    )
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode()) is None
    bom = json.loads(data)
    manifest = reg.services.signing.files.manifest(_ref(reg))
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["hashes"] == [{"alg": "SHA-256", "content": manifest.digest}]
    assert SBOM_FILE not in manifest.by_name() and "model.pkl" in manifest.by_name()
    assert not any(p["name"] == f"ledgerflow:file:{SBOM_FILE}" for p in model["properties"])
    [attestation] = reg.services.attestations.list(reg.name, reg.version, PREDICATE_SBOM)
    assert attestation.predicate["sbom_sha256"] == hashlib.sha256(data).hexdigest()
    assert attestation.manifest_digest == manifest.digest
    facts = reg.services.facts.collect(reg.name, int(reg.version))["sbom"]
    assert facts["file"] == SBOM_FILE and facts["digest"] == hashlib.sha256(data).hexdigest()

    # Signed over the model's files only, with the SBOM file under OMS ignore_paths.
    signature = _signature(reg)
    assert signature["status"] == "valid"
    statement = dsse.open_bundle(signature["bundle"]).statement()
    assert statement["predicate"]["serialization"]["ignore_paths"] == [SBOM_FILE]
    assert SBOM_FILE not in {r["name"] for r in statement["predicate"]["resources"]}

    # Our client downloads it with the rest and loads the model (signature and scan checks).
    downloaded = Path(download_model(f"models:/{reg.name}/{reg.version}", str(tmp_path / "ours")))
    assert (downloaded / SBOM_FILE).read_bytes() == data
    assert ledgerflow.pyfunc.load_model(f"models:/{reg.name}/{reg.version}") is not None
    single = httpx.get(f"{reg.url}/model-versions/get-artifact", params={**_params(reg), "path": SBOM_FILE})
    assert single.status_code == 200 and single.content == data

    # The OMS reference verifier accepts the platform bundle on the downloaded folder, SBOM
    # file included, and still catches a changed model file there.
    model_signing = pytest.importorskip("model_signing")
    key = reg.services.signing.key
    public, bundle = tmp_path / "server.pub", tmp_path / "version.sig"
    public.write_text(key.public_pem)
    bundle.write_text(dsse.dumps(signature["bundle"]))
    verifier = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public)
    verifier.verify(downloaded, bundle)
    (downloaded / "model.pkl").write_bytes(b"changed")
    with pytest.raises(ValueError):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
            downloaded, bundle
        )


def test_the_stock_mlflow_client_downloads_the_sbom_file(
    register: Callable[..., Any], tmp_path: Path
) -> None:
    mlflow = pytest.importorskip("mlflow")
    reg = register(sign_models_at_registration=True)
    mlflow.set_tracking_uri(reg.url)
    try:
        target = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{reg.name}/{reg.version}", dst_path=str(tmp_path / "stock")
        )
    finally:
        mlflow.set_tracking_uri(None)
    assert (Path(target) / SBOM_FILE).read_bytes() == (reg.artifact_dir / SBOM_FILE).read_bytes()


def test_a_changed_sbom_file_is_refused_a_removed_one_is_not(register: Callable[..., Any]) -> None:
    reg = register(sign_models_at_registration=True)
    written = reg.artifact_dir / SBOM_FILE
    original = written.read_bytes()
    written.write_bytes(original.replace(b'"specVersion":"1.6"', b'"specVersion":"1.5"'))

    signature = _signature(reg)
    assert signature["status"] == "invalid"
    assert f"{SBOM_FILE} changed after registration" in signature["reason"]
    assert "added after signing" not in signature["reason"]
    for path in (f"{MV}/get-download-uri",):
        refused = httpx.get(reg.url + path, params=_params(reg))
        assert refused.status_code == 403 and SBOM_FILE in refused.json()["message"]
    single = httpx.get(f"{reg.url}/model-versions/get-artifact", params={**_params(reg), "path": SBOM_FILE})
    assert single.status_code == 403 and "matches no valid SBOM attestation" in single.json()["message"]
    with pytest.raises(LedgerflowError) as caught:
        ledgerflow.pyfunc.load_model(f"models:/{reg.name}/{reg.version}")
    assert caught.value.error_code == "PERMISSION_DENIED"
    promote = httpx.post(
        f"{reg.url}/api/2.0/mlflow/registered-models/alias",
        json={"name": reg.name, "alias": "champion", "version": reg.version},
    )
    assert promote.status_code == 403
    found = refusals(reg, "signatures.download_refused")
    assert found and all(SBOM_FILE in r["reason"] for r in found)
    assert found[0]["key_id"] == reg.services.signing.key.key_id

    written.write_bytes(original)
    assert _signature(reg)["status"] == "valid"
    written.unlink()  # the SBOM file is a record, not a model file: without it the files verify
    assert _signature(reg)["status"] == "valid"
    assert reg.services.facts.collect(reg.name, int(reg.version))["sbom"]["file"] is None


def test_versions_sharing_a_folder_share_its_sbom_file(register: Callable[..., Any]) -> None:
    reg = register(sign_models_at_registration=True)
    first = (reg.artifact_dir / SBOM_FILE).read_bytes()
    version = httpx.get(f"{reg.url}{MV}/get", params=_params(reg)).json()["model_version"]
    client = Client(reg.url)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "iris-prod"})
    created = client.transport.call(
        "POST",
        "/2.0/mlflow/model-versions/create",
        {"name": "iris-prod", "source": version["source"], "run_id": reg.run_id},
    )["model_version"]
    assert _ref(reg, "iris-prod", "1").storage_location == _ref(reg).storage_location
    # The first version's file stays; the second version's own SBOM is the API's.
    assert (reg.artifact_dir / SBOM_FILE).read_bytes() == first
    assert created["status"] == "READY"
    own = httpx.get(f"{reg.url}{LF}/model-versions/sbom", params={"name": "iris-prod", "version": "1"}).json()
    assert own["metadata"]["component"]["name"] == "iris-prod"
    assert _signature(reg, name="iris-prod", version="1")["status"] == "valid"
    assert _signature(reg)["status"] == "valid"
    (reg.artifact_dir / SBOM_FILE).write_bytes(first + b" ")
    assert _signature(reg, name="iris-prod", version="1")["status"] == "invalid"


def test_a_folder_the_server_cannot_write_into(
    register: Callable[..., Any], caplog: pytest.LogCaptureFixture, iris: Any, classifier: Any
) -> None:
    reg = register(sign_models_at_registration=True)
    import ledgerflow
    import ledgerflow.sklearn

    # A logged model whose folder holds a regular file named 'sbom': nothing can be written at
    # sbom/cyclonedx.json (as with read-only storage or credentials).
    with ledgerflow.start_run() as run:
        info = ledgerflow.sklearn.log_model(classifier, name="model", input_example=iris[0].head(3))
    logged = Client(reg.url).transport.call("GET", f"/2.0/mlflow/logged-models/{info.model_id}", {})["model"]
    repo, prefix = reg.services.artifacts.roots.resolve(logged["info"]["artifact_uri"])
    (Path(repo.root) / prefix / "sbom").write_text("not a folder\n")
    client = Client(reg.url)
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "iris-ro"})
    with caplog.at_level(logging.WARNING, logger="ledgerflow.governance.sbom.service"):
        created = client.transport.call(
            "POST",
            "/2.0/mlflow/model-versions/create",
            {"name": "iris-ro", "source": f"models:/{info.model_id}", "run_id": run.info.run_id},
        )["model_version"]
    assert created["status"] == "READY"
    assert f"The SBOM of iris-ro version 1 is not written to {SBOM_FILE}" in caplog.text
    assert not (Path(repo.root) / prefix / SBOM_FILE).exists()
    bom = httpx.get(f"{reg.url}{LF}/model-versions/sbom", params={"name": "iris-ro", "version": "1"})
    assert bom.status_code == 200 and bom.json()["metadata"]["component"]["name"] == "iris-ro"
    assert reg.services.attestations.list("iris-ro", 1, PREDICATE_SBOM)
    facts = reg.services.facts.collect("iris-ro", 1)["sbom"]
    assert facts["present"] is True and facts["file"] is None
    assert _signature(reg, name="iris-ro", version="1")["status"] == "valid"


def test_a_blocked_versions_sbom_file_stays_blocked(register: Callable[..., Any]) -> None:
    reg = register()
    client = Client(reg.url)
    run = client.transport.call("GET", "/2.0/mlflow/runs/get", {"run_id": reg.run_id})["run"]
    folder = run["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/") + "/flagged"
    put = httpx.put(f"{reg.url}/api/2.0/mlflow-artifacts/artifacts/{folder}/model.pkl", content=LOGGER_PICKLE)
    assert put.status_code == 200, put.text
    client.transport.call("POST", "/2.0/mlflow/registered-models/create", {"name": "flagged"})
    client.transport.call(
        "POST",
        "/2.0/mlflow/model-versions/create",
        {"name": "flagged", "source": f"mlflow-artifacts:/{folder}", "run_id": reg.run_id},
    )
    scan = httpx.get(f"{reg.url}{LF}/model-versions/scan", params={"name": "flagged", "version": "1"})
    assert scan.json()["scan"]["status"] == "findings"
    assert _ref(reg, "flagged", "1").storage_location.endswith("/flagged")
    params = {"name": "flagged", "version": "1"}
    single = httpx.get(f"{reg.url}/model-versions/get-artifact", params={**params, "path": SBOM_FILE})
    assert single.status_code == 403 and "its scan is 'findings'" in single.json()["message"]
    assert httpx.get(f"{reg.url}{MV}/get-download-uri", params=params).status_code == 403
    # The document itself (metadata about the version) is still served by the SBOM API.
    assert httpx.get(f"{reg.url}{LF}/model-versions/sbom", params=params).status_code == 200


def test_only_the_sbom_file_may_be_left_out_of_a_bundle(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    model_dir = tmp_path / "model"
    (model_dir / "sbom").mkdir(parents=True)
    (model_dir / "model.pkl").write_bytes(b"weights")
    (model_dir / "sbom" / "notes.txt").write_text("signed like any file\n")
    (model_dir / SBOM_FILE).write_text("{}")
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    manifest = hash_source(LocalDirectory(model_dir))
    assert sorted(manifest.by_name()) == ["model.pkl", "sbom/notes.txt"]
    binding = oms.Binding("m", "1", None)
    signed = oms.verify(oms.sign(manifest, key, "m", binding), load_public_key(key.public_pem))
    (model_dir / SBOM_FILE).write_text('{"changed": true}')
    assert signed.differences(hash_source(LocalDirectory(model_dir))) == []
    (model_dir / "sbom" / "notes.txt").write_text("changed\n")
    assert signed.differences(hash_source(LocalDirectory(model_dir))) == [
        "file changed after signing: sbom/notes.txt"
    ]
    statement = oms.statement_for(manifest, "m", binding)
    statement["predicate"]["serialization"]["ignore_paths"] = ["sbom"]
    with pytest.raises(oms.SignatureError, match="leaves files unsigned"):
        oms.verify(dsse.sign_statement(statement, key), load_public_key(key.public_pem))
