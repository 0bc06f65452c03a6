"""Credential-shaped test values, assembled at run time so that no token-shaped string sits
in the repository (where a real secret scanner would rightly flag it). None is a live key:
the AWS pair is AWS's documented example, the rest are random letters in each format."""

from __future__ import annotations

import hashlib
import uuid

AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
GITHUB_TOKEN = "gh" + "p_" + "R7c2Lq9XzT4mWb8NfK1sVd6HyJ3pGa0EuQ5o"
JWT = (
    "eyJ"
    + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJ"
    + "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    + ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN "
    + "RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n-----END RSA PRIVATE KEY-----"
)
URL_PASSWORD = "Sup3r-s3cr3t-pw"
URL_WITH_PASSWORD = f"postgresql://trainer:{URL_PASSWORD}@db.internal.example:5432/features"

# (name, value, the kind the scanner reports, the part of the value that is the secret)
SECRETS = [
    ("aws_key_id", AWS_KEY_ID, "aws_access_key_id", AWS_KEY_ID),
    ("github_token", GITHUB_TOKEN, "github_token", GITHUB_TOKEN),
    ("jwt", JWT, "jwt", JWT),
    ("pem_header", PEM, "private_key", PEM),
    ("url_credentials", URL_WITH_PASSWORD, "url_credentials", URL_PASSWORD),
]


def benign_values() -> list[tuple[str, str]]:
    """Digest, UUID and run-id shapes, under names that would otherwise invite suspicion."""
    return [
        ("model_sha256", hashlib.sha256(b"weights").hexdigest()),
        ("dataset_digest_sha1", hashlib.sha1(b"rows").hexdigest()),
        ("checksum_md5", hashlib.md5(b"rows").hexdigest()),
        ("request_token_uuid", str(uuid.uuid4())),
        ("parent_run_id", uuid.uuid4().hex),
        ("secret_ref_run", uuid.uuid4().hex),
        ("logged_model", "m-" + uuid.uuid4().hex),
        ("artifact_uri", "s3://bucket/experiments/1/" + uuid.uuid4().hex + "/artifacts"),
        ("learning_rate", "0.001"),
        ("tokenizer", "bert-base-uncased"),
    ]
