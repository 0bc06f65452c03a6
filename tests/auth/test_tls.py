"""`ledgerflow server --ssl-certfile/--ssl-keyfile` serves HTTPS (self-signed cert made here)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.listening import announced_port


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_server_serves_tls_with_auth_and_secure_cookie(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    env = {
        **os.environ,
        "LEDGERFLOW_BOOTSTRAP_ADMIN_PASSWORD": "Tls-Boss-Passw0rd-1",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "server.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "ledgerflow.cli", "server", "--port", "0",
             "--backend-store-uri", f"sqlite:///{tmp_path / 'db.sqlite'}", "--artifacts-destination",
             str(tmp_path / "a"), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        url = f"https://127.0.0.1:{announced_port(process, log)}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health", verify=str(cert), timeout=1).text == "OK":
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with httpx.Client(base_url=url, verify=str(cert)) as client:
            assert (
                client.get("/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}).status_code
                == 401
            )
            ok = client.get(
                "/api/2.0/mlflow/experiments/get",
                params={"experiment_id": "0"},
                auth=("admin", "Tls-Boss-Passw0rd-1"),
            )
            assert ok.status_code == 200
            page = client.get("/login")
            assert any("Secure" in c for c in page.headers.get_list("set-cookie"))
    finally:
        process.terminate()
        process.wait(10)
    assert "Created the first administrator 'admin'" in log.read_text()
