"""The OMS bundle on its own: round trip, tampering, replay, and interop with the
``model_signing`` reference package (1.1.1) in both directions."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.governance.signing import dsse, oms
from ledgerflow.governance.signing.keys import SigningKey, load_public_key, private_pem
from ledgerflow.governance.signing.manifest import LocalDirectory, hash_source


@pytest.fixture
def model_dir(tmp_path: Path, classifier: Any, iris: Any) -> Path:
    import ledgerflow.sklearn

    path = tmp_path / "model"
    ledgerflow.sklearn.save_model(classifier, path, input_example=iris[0].head(3))
    return path


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


BINDING = oms.Binding("iris-lr", "3", "a" * 32)


def signed(model_dir: Path, key: SigningKey) -> dict[str, Any]:
    return oms.sign(hash_source(LocalDirectory(model_dir)), key, "iris-lr", BINDING)


def check(model_dir: Path, bundle: dict[str, Any], key: SigningKey) -> list[str]:
    result = oms.verify(bundle, load_public_key(key.public_pem))
    return result.differences(hash_source(LocalDirectory(model_dir)))


def test_round_trip(model_dir: Path, key: SigningKey) -> None:
    bundle = signed(model_dir, key)
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == key.key_id
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    names = [r["name"] for r in statement["predicate"]["resources"]]
    assert {"MLmodel", "model.pkl", "requirements.txt"} <= set(names)
    assert statement["predicate"]["ledgerflow"] == BINDING.to_json()
    assert check(model_dir, bundle, key) == []
    assert oms.verify(bundle, load_public_key(key.public_pem)).binding == BINDING


def test_added_file_changed_byte_and_removed_file(model_dir: Path, key: SigningKey) -> None:
    bundle = signed(model_dir, key)
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "payload.py").write_text("import os\n")
    assert check(model_dir, bundle, key) == ["file added after signing: sub/payload.py"]
    (model_dir / "sub" / "payload.py").unlink()
    data = bytearray((model_dir / "model.pkl").read_bytes())
    data[-3] ^= 0xFF
    (model_dir / "model.pkl").write_bytes(bytes(data))
    assert check(model_dir, bundle, key) == ["file changed after signing: model.pkl"]
    (model_dir / "MLmodel").unlink()
    assert "signed file missing: MLmodel" in check(model_dir, bundle, key)


def test_forged_payload_other_key_and_replay(model_dir: Path, key: SigningKey) -> None:
    bundle = signed(model_dir, key)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["ledgerflow"]["model_version"] = "4"
    forged = json.loads(json.dumps(bundle))
    forged["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    with pytest.raises(oms.SignatureError, match="signature does not match"):
        oms.verify(forged, load_public_key(key.public_pem))
    other = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(oms.SignatureError):
        oms.verify(bundle, load_public_key(other.public_pem))
    # A genuine signature for version 3 says so; the registry refuses it for version 4.
    binding = oms.verify(bundle, load_public_key(key.public_pem)).binding
    problem = oms.Binding("iris-lr", "4", BINDING.run_id).problem_with(binding)
    assert problem and "made for iris-lr version 3" in problem


def test_bundle_excluding_model_files_is_refused(model_dir: Path, key: SigningKey) -> None:
    manifest = hash_source(LocalDirectory(model_dir))
    statement = oms.statement_for(manifest, "iris-lr", BINDING)
    statement["predicate"]["serialization"]["ignore_paths"] = ["model.pkl"]
    bundle = dsse.sign_statement(statement, key)
    with pytest.raises(oms.SignatureError, match="leaves files unsigned"):
        oms.verify(bundle, load_public_key(key.public_pem))


def _write_keys(tmp_path: Path, key: SigningKey) -> tuple[Path, Path]:
    private, public = tmp_path / "key.pem", tmp_path / "pub.pem"
    private.write_bytes(private_pem(key))
    public.write_text(key.public_pem)
    return private, public


def test_reference_verifier_accepts_our_bundle(model_dir: Path, key: SigningKey, tmp_path: Path) -> None:
    model_signing = pytest.importorskip("model_signing")
    _, public = _write_keys(tmp_path, key)
    signature = tmp_path / "ours.sig"
    signature.write_text(dsse.dumps(signed(model_dir, key)))
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(model_dir, signature)
    (model_dir / "extra.txt").write_text("x")
    with pytest.raises(ValueError):
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
            model_dir, signature
        )


def test_we_verify_the_reference_bundle(model_dir: Path, key: SigningKey, tmp_path: Path) -> None:
    model_signing = pytest.importorskip("model_signing")
    private, _ = _write_keys(tmp_path, key)
    signature = tmp_path / "theirs.sig"
    model_signing.signing.Config().use_elliptic_key_signer(private_key=private).sign(model_dir, signature)
    theirs = json.loads(signature.read_text())
    result = oms.verify(theirs, load_public_key(key.public_pem))
    assert result.differences(hash_source(LocalDirectory(model_dir))) == []
    # Same files, same manifest digest by both tools.
    assert result.manifest.digest == hash_source(LocalDirectory(model_dir)).digest
    # It binds no registry version, so the registry would not take it for one.
    assert result.binding is None and BINDING.problem_with(result.binding) is not None
    (model_dir / "model.pkl").write_bytes(b"changed")
    assert result.differences(hash_source(LocalDirectory(model_dir))) == [
        "file changed after signing: model.pkl"
    ]
