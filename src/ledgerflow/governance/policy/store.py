"""Queries on the policy tables (``store/governance/policy_schema.py``)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ledgerflow.store.governance.policy_schema import policies, policy_evaluations


def latest_version(conn: Connection, name: str) -> Any:
    query = sa.select(policies).where(policies.c.name == name).order_by(policies.c.version.desc()).limit(1)
    return conn.execute(query).first()


def get_version(conn: Connection, name: str, version: int) -> Any:
    query = sa.select(policies).where(policies.c.name == name, policies.c.version == version)
    return conn.execute(query).first()


def insert_policy(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(policies.insert().values(**values))


def retire(conn: Connection, name: str, version: int) -> None:
    conn.execute(
        policies.update().where(policies.c.name == name, policies.c.version == version).values(retired=True)
    )


def in_force(conn: Connection) -> list[Any]:
    """The newest version of every policy that is not retired."""
    newest = (
        sa.select(policies.c.name, sa.func.max(policies.c.version).label("version"))
        .group_by(policies.c.name)
        .subquery()
    )
    query = (
        sa.select(policies)
        .join(newest, sa.and_(policies.c.name == newest.c.name, policies.c.version == newest.c.version))
        .where(policies.c.retired == sa.false())
        .order_by(policies.c.name)
    )
    return list(conn.execute(query))


def versions_of(conn: Connection, name: str) -> list[Any]:
    query = sa.select(policies).where(policies.c.name == name).order_by(policies.c.version.desc())
    return list(conn.execute(query))


def insert_evaluation(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(policy_evaluations.insert().values(**values))


def get_evaluation(conn: Connection, evaluation_id: str) -> Any:
    query = sa.select(policy_evaluations).where(policy_evaluations.c.evaluation_id == evaluation_id)
    return conn.execute(query).first()


def evaluations_of(conn: Connection, name: str, version: int, limit: int) -> list[Any]:
    query = (
        sa.select(policy_evaluations)
        .where(policy_evaluations.c.model_name == name, policy_evaluations.c.model_version == version)
        .order_by(policy_evaluations.c.creation_time.desc(), policy_evaluations.c.evaluation_id)
        .limit(limit)
    )
    return list(conn.execute(query))


def evaluation_json(row: Any) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(row.record)
    answer = {"evaluation_id": row.evaluation_id, **record, "created_by": row.created_by}
    if row.attestation:
        answer["attestation"] = json.loads(row.attestation)
    return answer
