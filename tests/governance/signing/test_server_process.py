"""`ledgerflow server --require-signature` as a real process; CI signs and uploads with
`ledgerflow sign --upload`, then the version is READY and downloadable."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.governance.signing.keys import SigningKey, private_pem
from tests.listening import announced_port


def _ledgerflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledgerflow.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_required_signature_server_process_and_ci_upload(tmp_path: Path, classifier: Any, iris: Any) -> None:
    import ledgerflow
    import ledgerflow.sklearn

    store = f"sqlite:///{tmp_path / 'db.sqlite'}"
    artifacts = tmp_path / "artifacts"
    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "ci.pem").write_bytes(private_pem(key))
    (tmp_path / "ci.pub").write_text(key.public_pem)
    trusted = _ledgerflow("keys", "add", "--backend-store-uri", store, "--public-key", "ci.pub", cwd=tmp_path)
    assert trusted.returncode == 0 and trusted.stdout.strip() == key.key_id, trusted.stderr

    log = tmp_path / "server.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledgerflow.cli", "server", "--no-auth", "--require-signature", "--port", "0",
             "--backend-store-uri", store, "--artifacts-destination", str(artifacts)],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{announced_port(process, log)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).text == "OK":
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                f"server did not come up:\n{log.read_text()}"
            )
            time.sleep(0.1)
        ledgerflow.set_tracking_uri(url)
        ledgerflow.set_experiment("ci")
        with ledgerflow.start_run() as run:
            info = ledgerflow.sklearn.log_model(classifier, name="model", registered_model_name="ci-model")
        params = {"name": "ci-model", "version": "1"}
        got = httpx.get(f"{url}/api/2.0/mlflow/model-versions/get", params=params).json()["model_version"]
        assert got["status"] == "PENDING_REGISTRATION"
        assert (
            httpx.get(f"{url}/api/2.0/mlflow/model-versions/get-download-uri", params=params).status_code
            == 403
        )

        model_dir = artifacts / info.artifact_uri.split("mlflow-artifacts:/", 1)[1].lstrip("/")
        signed = _ledgerflow(
            "sign", "-m", str(model_dir), "--key", "ci.pem", "--name", "ci-model", "--version", "1",
            "--run-id", run.info.run_id, "-o", str(tmp_path / "ci-model.sig"), "--upload", "--tracking-uri", url,
            cwd=tmp_path,
        )  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        assert "Uploaded: signature valid" in signed.stderr
        got = httpx.get(f"{url}/api/2.0/mlflow/model-versions/get", params=params).json()["model_version"]
        assert got["status"] == "READY"
        assert (
            httpx.get(f"{url}/api/2.0/mlflow/model-versions/get-download-uri", params=params).status_code
            == 200
        )
    finally:
        process.terminate()
        process.wait(timeout=15)
