"""Sign and verify a 100 MB model directory (target: verify <= 1 s), side by side with the
OpenSSF ``model-signing`` package (1.1.1, key mode) on the same files and the same key.

The directory holds one large weights file plus the small files of an MLflow model (MLmodel,
requirements.txt, conda.yaml, python_env.yaml, input example). Timed, per tool:

* sign: hash every file and write the OMS bundle (ECDSA P-256);
* verify: read the bundle, check the signature, re-hash every file and compare manifests
  (what the server does at download, load, serving and promotion, minus the database read).

Each tool verifies its own bundle and the other's (interop), untimed. Files are read from the
page cache after a warm-up round; median of ``--rounds``.

    .venv/bin/python benchmarks/governance_signing.py [--megabytes 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ledgerflow.governance.signing import dsse, oms
from ledgerflow.governance.signing.keys import SigningKey, load_public_key, private_pem
from ledgerflow.governance.signing.manifest import LocalDirectory, hash_source

TARGET_VERIFY_SECONDS = 1.0
BINDING = oms.Binding("bench-model", "1", "0" * 32)


def build_model(root: Path, megabytes: int) -> Path:
    model = root / "model"
    model.mkdir()
    with (model / "model.bin").open("wb") as out:
        for _ in range(megabytes):
            out.write(os.urandom(1024 * 1024))
    (model / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: bench\n")
    (model / "requirements.txt").write_text("scikit-learn==1.9.1\nnumpy==2.5.5\n")
    (model / "conda.yaml").write_text("name: bench\ndependencies: [python=3.11]\n")
    (model / "python_env.yaml").write_text("python: 3.11\n")
    (model / "input_example.json").write_text('{"columns": ["a"], "data": [[1]]}\n')
    return model


def ours_sign(model: Path, key: SigningKey, out: Path) -> None:
    bundle = oms.sign(hash_source(LocalDirectory(model)), key, BINDING.model_name, BINDING)
    out.write_text(dsse.dumps(bundle))


def ours_verify(model: Path, key: SigningKey, signature: Path) -> None:
    signed = oms.verify(json.loads(signature.read_text()), load_public_key(key.public_pem))
    problems = signed.differences(hash_source(LocalDirectory(model)))
    if problems:
        raise SystemExit(f"our verification failed: {problems}")


def timed(action: Callable[[], None], rounds: int) -> dict[str, Any]:
    action()  # warm-up: page cache, imports
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(seconds), 4), "rounds_s": [round(s, 4) for s in seconds]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import model_signing  # the reference implementation (test extra: model-signing + pyopenssl)

    key = SigningKey(ec.generate_private_key(ec.SECP256R1()))
    with tempfile.TemporaryDirectory(prefix="ledgerflow-bench-signing-") as temp:
        root = Path(temp)
        model = build_model(root, args.megabytes)
        private, public = root / "key.pem", root / "pub.pem"
        private.write_bytes(private_pem(key))
        public.write_text(key.public_pem)
        ours, theirs = root / "ours.sig", root / "theirs.sig"

        def their_sign() -> None:
            config = model_signing.signing.Config()  # type: ignore[no-untyped-call]
            config.use_elliptic_key_signer(private_key=private).sign(model, theirs)

        def their_verify(signature: Path) -> None:
            config = model_signing.verifying.Config()  # type: ignore[no-untyped-call]
            config.use_elliptic_key_verifier(public_key=public).verify(model, signature)

        results = {
            "ledgerflow": {
                "sign": timed(lambda: ours_sign(model, key, ours), args.rounds),
                "verify": timed(lambda: ours_verify(model, key, ours), args.rounds),
            },
            "model_signing": {
                "sign": timed(their_sign, args.rounds),
                "verify": timed(lambda: their_verify(theirs), args.rounds),
            },
        }
        # Interop, untimed: each verifies the other's bundle.
        their_verify(ours)
        ours_verify(model, key, theirs)

    verify = results["ledgerflow"]["verify"]["median_s"]
    summary = {
        "megabytes": args.megabytes,
        "files": 6,
        "results": results,
        "interop": "each tool verified the other's bundle",
        "target_verify_s": TARGET_VERIFY_SECONDS,
        "target_met": verify <= TARGET_VERIFY_SECONDS,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
