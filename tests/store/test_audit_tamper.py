"""Tampering with the audit tables directly in the database is caught by ``ledgerflow audit verify``.

Each test edits the real database (SQLite, PostgreSQL, MariaDB) behind the server's back and
runs the real CLI entry point, which must name the damaged record and exit non-zero.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.security.audit.chain import GENESIS_HASH, record_hash
from ledgerflow.security.audit.signing import load_or_create
from ledgerflow.store.database import create_db_engine
from tests.cli.conftest import CliResult, invoke
from tests.conftest import Api

# The key registration, the server's signing-key trust and twelve experiment creations.
RECORDS = 14
INTERVAL = 5


@pytest.fixture
def audited(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> Iterator[sa.Engine]:
    config = replace(
        server_config,
        audit_signing_key_path=str(tmp_path / "keys" / "audit.pem"),
        audit_checkpoint_interval=INTERVAL,
        # Only the count-based checkpoints, so the expected numbers are exact.
        audit_checkpoint_seconds=0,
    )
    api = Api(make_client(config))
    for index in range(RECORDS - 2):
        api.ok("post", "experiments/create", {"name": f"e{index}"})
    engine = create_db_engine(config.backend_store_uri)
    yield engine
    engine.dispose()


def verify(engine: sa.Engine, *extra: str) -> CliResult:
    return invoke(
        ["audit", "verify", "--backend-store-uri", engine.url.render_as_string(hide_password=False), *extra]
    )


def sql(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


def failed(result: CliResult, message: str) -> None:
    assert result.exit_code == 1, result
    assert f"FAILED: {message}" in result.stdout, result


def test_untouched_log_verifies(audited: sa.Engine) -> None:
    result = verify(audited)
    assert result.exit_code == 0, result
    assert f"OK: {RECORDS} records, {RECORDS // INTERVAL} checkpoints verified" in result.stdout


def test_edited_field_is_reported(audited: sa.Engine) -> None:
    sql(audited, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
    failed(verify(audited), "record 7 was edited")


def test_edited_details_are_reported(audited: sa.Engine) -> None:
    sql(audited, 'UPDATE audit_log SET details = \'{"request":{"name":"other"}}\' WHERE seq = 4')
    failed(verify(audited), "record 4 was edited")


def test_deleted_record_is_reported(audited: sa.Engine) -> None:
    sql(audited, "DELETE FROM audit_log WHERE seq = 8")
    failed(verify(audited), "record 8 is missing (deleted)")


def test_deleted_last_record_is_reported(audited: sa.Engine) -> None:
    sql(audited, f"DELETE FROM audit_log WHERE seq = {RECORDS}")
    failed(verify(audited), f"record {RECORDS} is missing (deleted from the end of the log)")


def test_swapped_records_are_reported(audited: sa.Engine) -> None:
    sql(
        audited,
        "UPDATE audit_log SET seq = -1 WHERE seq = 9",
        "UPDATE audit_log SET seq = 9 WHERE seq = 11",
        "UPDATE audit_log SET seq = 11 WHERE seq = -1",
    )
    failed(verify(audited), "records 9 and 11 are out of order")


def test_adjacent_swap_is_reported(audited: sa.Engine) -> None:
    sql(
        audited,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -1",
    )
    failed(verify(audited), "records 2 and 3 are out of order")


def test_edited_checkpoint_signature_is_reported(audited: sa.Engine) -> None:
    forged = base64.b64encode(bytes(64)).decode()
    sql(audited, f"UPDATE audit_checkpoints SET signature = '{forged}' WHERE seq = 10")
    failed(verify(audited), "checkpoint at 10 has a bad signature")


def rechain(engine: sa.Engine, *edits: str) -> None:
    """What an attacker without the key can do: run ``edits`` on audit_log, then recompute
    every hash from the start and move the head to the new end."""
    with engine.begin() as conn:
        for edit in edits:
            conn.execute(sa.text(edit))
        rows = [dict(row._mapping) for row in conn.execute(sa.text("SELECT * FROM audit_log ORDER BY seq"))]
        prev = GENESIS_HASH
        for row in rows:
            new_hash = record_hash(prev, row)
            conn.execute(
                sa.text("UPDATE audit_log SET prev_hash = :p, record_hash = :h WHERE seq = :s"),
                {"p": prev, "h": new_hash, "s": row["seq"]},
            )
            prev = new_hash
        conn.execute(sa.text("UPDATE audit_head SET seq = :s, record_hash = :h"), {"s": len(rows), "h": prev})


def pinned_key(tmp_path: Path) -> str:
    printed = invoke(["audit", "public-key", "--signing-key", str(tmp_path / "keys" / "audit.pem")])
    assert printed.exit_code == 0, printed
    (tmp_path / "audit.pub").write_text(printed.stdout)
    return str(tmp_path / "audit.pub")


def test_rewritten_chain_is_caught_by_the_checkpoint(audited: sa.Engine) -> None:
    # An attacker without the key edits record 3 and recomputes every later hash and the head.
    rechain(audited, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
    result = verify(audited)
    failed(result, "checkpoint at 5 does not match record 5 (the chain was rewritten)")
    # The records do link up, so the note must not claim all of them were verified.
    assert "verified before the first problem" not in result.stderr
    assert f"the {RECORDS} records link up" in result.stderr


def test_a_chain_problem_counts_the_records_before_it(audited: sa.Engine) -> None:
    sql(audited, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
    assert "(6 records verified before the first problem)" in verify(audited).stderr


def test_deleted_checkpoints_and_a_rewritten_chain_are_reported(audited: sa.Engine, tmp_path: Path) -> None:
    # The trial's attack: drop every checkpoint, edit a record, re-chain, move the head.
    sql(audited, "DELETE FROM audit_checkpoints")
    rechain(audited, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
    failed(verify(audited, "--public-key", pinned_key(tmp_path)), "checkpoint at 5 is missing")
    failed(verify(audited), "checkpoint at 5 is missing")


def test_one_deleted_checkpoint_is_named(audited: sa.Engine) -> None:
    sql(audited, "DELETE FROM audit_checkpoints WHERE seq = 10")
    failed(verify(audited), "checkpoint at 10 is missing")


def test_a_forged_schedule_is_reported(audited: sa.Engine, tmp_path: Path) -> None:
    # Declaring a huge interval would excuse the missing checkpoints; the declaration is signed.
    with audited.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_checkpoints"))
        details = conn.execute(sa.text("SELECT details FROM audit_log WHERE seq = 1")).scalar_one()
        forged = json.dumps({**json.loads(details), "checkpoint_interval": 1000})
        conn.execute(sa.text("UPDATE audit_log SET details = :d WHERE seq = 1"), {"d": forged})
    rechain(audited)
    failed(
        verify(audited, "--public-key", pinned_key(tmp_path)),
        "record 1 declares a checkpoint schedule with a bad signature",
    )


def test_a_deleted_key_registration_fails_with_a_pinned_key(audited: sa.Engine, tmp_path: Path) -> None:
    # Remove the registration (and with it the schedule), renumber, re-chain, drop checkpoints.
    sql(audited, "DELETE FROM audit_checkpoints", "DELETE FROM audit_log WHERE seq = 1")
    rechain(audited, "UPDATE audit_log SET seq = seq - 1")
    failed(
        verify(audited, "--public-key", pinned_key(tmp_path)),
        "no checkpoint schedule signed by the given public keys is in the log",
    )
    failed(verify(audited), "no checkpoint schedule signed by a key stored in the database")


def make_anchor(engine: sa.Engine, tmp_path: Path) -> Path:
    target = tmp_path / "anchor.json"
    uri = engine.url.render_as_string(hide_password=False)
    key = str(tmp_path / "keys" / "audit.pem")
    made = invoke(["audit", "anchor", "--backend-store-uri", uri, "--signing-key", key, "-o", str(target)])
    assert made.exit_code == 0, made
    return target


def test_an_anchor_catches_a_wiped_log(audited: sa.Engine, tmp_path: Path) -> None:
    anchor = make_anchor(audited, tmp_path)
    saved = json.loads(anchor.read_text())
    assert saved["seq"] == RECORDS and set(saved) >= {"record_hash", "time", "key_id", "signature"}
    result = verify(audited, "--anchor", str(anchor), "--public-key", pinned_key(tmp_path))
    assert result.exit_code == 0 and f"anchor at {RECORDS} present" in result.stdout, result
    sql(audited, "DELETE FROM audit_log", "DELETE FROM audit_checkpoints", "DELETE FROM audit_head")
    # Without the anchor nothing inside the database can tell: that is what the anchor is for.
    assert verify(audited).exit_code == 0
    failed(
        verify(audited, "--anchor", str(anchor), "--public-key", pinned_key(tmp_path)),
        f"record {RECORDS} named by the anchor is missing: the log was truncated or rewritten "
        f"before seq {RECORDS}",
    )


def test_an_anchor_catches_a_rebuilt_log(audited: sa.Engine, tmp_path: Path) -> None:
    anchor = make_anchor(audited, tmp_path)
    sql(audited, "DELETE FROM audit_checkpoints")
    rechain(audited, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 12")
    failed(
        verify(audited, "--anchor", str(anchor)),
        f"record {RECORDS} differs from the anchor: the log was truncated or rewritten before seq {RECORDS}",
    )


def test_a_forged_anchor_is_reported(audited: sa.Engine, tmp_path: Path) -> None:
    anchor = make_anchor(audited, tmp_path)
    saved = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**saved, "seq": 3}))
    failed(verify(audited, "--anchor", str(anchor)), "the anchor has a bad signature")
    anchor.write_text("not json")
    result = verify(audited, "--anchor", str(anchor))
    assert result.exit_code == 2 and "Could not read the audit anchor" in result.stderr, result


def test_anchoring_a_tampered_log_is_refused(audited: sa.Engine, tmp_path: Path) -> None:
    sql(audited, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 7")
    uri = audited.url.render_as_string(hide_password=False)
    key = str(tmp_path / "keys" / "audit.pem")
    result = invoke(["audit", "anchor", "--backend-store-uri", uri, "--signing-key", key])
    assert result.exit_code != 0 and "record 7 was edited" in result.stderr, result


def test_public_key_file_pins_the_trusted_key(audited: sa.Engine, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "audit.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    printed = invoke(["audit", "public-key", "--signing-key", str(key_file)])
    assert printed.exit_code == 0, printed
    (tmp_path / "audit.pub").write_text(printed.stdout)
    assert verify(audited, "--public-key", str(tmp_path / "audit.pub")).exit_code == 0
    stranger = load_or_create(str(tmp_path / "other.pem"))
    (tmp_path / "other.pub").write_text(stranger.public_pem())
    failed(
        verify(audited, "--public-key", str(tmp_path / "other.pub")),
        "checkpoint at 5 is signed by an unknown key",
    )


def test_a_key_swapped_in_the_database_is_not_trusted_with_a_pinned_key(
    audited: sa.Engine, tmp_path: Path
) -> None:
    # Re-signing checkpoints with a new key and storing that key passes only the stored-key check.
    real = invoke(["audit", "public-key", "--signing-key", str(tmp_path / "keys" / "audit.pem")])
    (tmp_path / "audit.pub").write_text(real.stdout)
    attacker = load_or_create(str(tmp_path / "attacker.pem"))
    from ledgerflow.security.audit.signing import checkpoint_message

    with audited.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO audit_keys (key_id, public_key, creation_time_ms) VALUES (:k, :p, 0)"),
            {"k": attacker.key_id, "p": attacker.public_text},
        )
        for row in conn.execute(sa.text("SELECT seq, record_hash, time_ms FROM audit_checkpoints")).all():
            signature = attacker.sign(
                checkpoint_message(row.seq, row.record_hash, row.time_ms, attacker.key_id)
            )
            conn.execute(
                sa.text("UPDATE audit_checkpoints SET key_id = :k, signature = :s WHERE seq = :q"),
                {"k": attacker.key_id, "s": signature, "q": row.seq},
            )
    assert verify(audited).exit_code == 0
    failed(
        verify(audited, "--public-key", str(tmp_path / "audit.pub")),
        "checkpoint at 5 is signed by an unknown key",
    )


def test_on_demand_checkpoint(audited: sa.Engine, tmp_path: Path) -> None:
    uri = audited.url.render_as_string(hide_password=False)
    result = invoke(
        [
            "audit",
            "checkpoint",
            "--backend-store-uri",
            uri,
            "--signing-key",
            str(tmp_path / "keys" / "audit.pem"),
        ]
    )
    assert result.exit_code == 0, result
    assert f"Checkpoint at {RECORDS}." in result.stdout
    assert f"OK: {RECORDS} records, {RECORDS // INTERVAL + 1} checkpoints" in verify(audited).stdout
    # The command declared no schedule of its own for the server's key.
    with audited.connect() as conn:
        actions = [row.action for row in conn.execute(sa.text("SELECT action FROM audit_log"))]
    assert "audit.declare_checkpoint_schedule" not in actions


def test_a_restart_with_another_interval_declares_it(
    audited: sa.Engine,
    make_client: Callable[[ServerConfig], TestClient],
    server_config: ServerConfig,
    tmp_path: Path,
) -> None:
    config = replace(
        server_config,
        audit_signing_key_path=str(tmp_path / "keys" / "audit.pem"),
        audit_checkpoint_interval=3,
        audit_checkpoint_seconds=0,
    )
    api = Api(make_client(config))
    for index in range(10):
        api.ok("post", "experiments/create", {"name": f"later{index}"})
    with audited.connect() as conn:
        declared = conn.execute(
            sa.text("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.declare_checkpoint_schedule'")
        ).scalar_one()
    assert declared == 1
    # Every multiple of lcm(5, 3) = 15 must be signed; both servers' checkpoints verify.
    result = verify(audited, "--public-key", pinned_key(tmp_path))
    assert result.exit_code == 0, result
    sql(audited, "DELETE FROM audit_checkpoints WHERE seq = 15")
    failed(verify(audited), "checkpoint at 15 is missing")


def test_an_export_kept_elsewhere_serves_as_an_anchor(audited: sa.Engine, tmp_path: Path) -> None:
    uri = audited.url.render_as_string(hide_password=False)
    kept = tmp_path / "siem.jsonl"
    assert invoke(["audit", "export", "--backend-store-uri", uri, "-o", str(kept)]).exit_code == 0
    assert verify(audited, "--anchor", str(kept)).exit_code == 0
    sql(
        audited,
        f"DELETE FROM audit_log WHERE seq > {RECORDS - 3}",
        f"UPDATE audit_head SET seq = {RECORDS - 3}",
    )
    sql(audited, f"DELETE FROM audit_checkpoints WHERE seq > {RECORDS - 3}")
    rechain(audited)
    failed(
        verify(audited, "--anchor", str(kept)),
        f"record {RECORDS} named by the anchor is missing: the log was truncated or rewritten",
    )
