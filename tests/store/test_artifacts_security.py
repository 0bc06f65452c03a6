"""Path traversal on every artifact route (BC-32 and the advisories in security-classes.md).

Each payload would reach a sentinel file outside the artifacts destination if it were taken
literally. Every route must answer 400 INVALID_PARAMETER_VALUE "Invalid path" and nothing
outside the root may be read, listed, written or deleted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ledgerflow.config import ServerConfig
from ledgerflow.errors import InvalidParameter
from tests.artifacts.support import (
    AJAX_PROXY,
    PROXY,
    SECRET,
    create_logged_model,
    create_run,
    get,
    listing,
    proxy_path,
    put,
    traversal_payloads,
    url_path,
)
from tests.conftest import Api

Snapshot = Callable[[], Any]


@pytest.fixture
def outside(tmp_path: Path, server_config: ServerConfig) -> Iterator[Path]:
    """A directory beside the artifacts destination holding a secret and a subdirectory."""
    place = tmp_path / "outside"
    (place / "victim-dir").mkdir(parents=True)
    (place / "secret.txt").write_bytes(SECRET)
    (place / "victim-dir" / "keep.txt").write_bytes(SECRET)
    yield place


@pytest.fixture
def outside_state(outside: Path) -> Snapshot:
    """Everything observable outside the store (overridden for S3 to include the bucket)."""

    def snapshot() -> Any:
        return sorted(
            (str(path.relative_to(outside)), path.read_bytes() if path.is_file() else None)
            for path in outside.rglob("*")
        )

    return snapshot


def _assert_invalid_path(response: Any, where: str) -> None:
    assert response.status_code == 400, (where, response.status_code, response.text[:200])
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", where
    # A NUL in a query or JSON field is refused by the request parser before the path
    # validator sees it; either refusal is the same 400.
    assert "Invalid path" in body["message"] or "NUL characters are not allowed" in body["message"], where
    assert SECRET not in response.content, where


def _every_route(api: Api, payload: str) -> Iterator[tuple[str, Any]]:
    client = api.client
    run = create_run(api)
    model = create_logged_model(api)
    encoded = url_path(payload)
    for prefix in (PROXY, AJAX_PROXY):
        yield f"PUT {prefix}", client.put(f"{prefix}/{encoded}", content=b"pwned")
        yield f"GET {prefix}", client.get(f"{prefix}/{encoded}")
        yield f"DELETE {prefix}", client.delete(f"{prefix}/{encoded}")
        yield f"list {prefix}", client.get(prefix, params={"path": payload})
    for prefix in ("/api", "/ajax-api"):
        yield (
            f"artifacts/list {prefix}",
            client.get(
                f"{prefix}/2.0/mlflow/artifacts/list", params={"run_id": run["run_id"], "path": payload}
            ),
        )
        yield (
            f"logged-model directories {prefix}",
            client.get(
                f"{prefix}/2.0/mlflow/logged-models/{model['model_id']}/artifacts/directories",
                params={"artifact_directory_path": payload},
            ),
        )
    for route in ("/get-artifact", "/ajax-api/2.0/mlflow/get-artifact"):
        yield route, client.get(route, params={"run_uuid": run["run_id"], "path": payload})
    yield (
        "upload-artifact",
        client.post(
            "/ajax-api/2.0/mlflow/upload-artifact",
            params={"run_uuid": run["run_id"], "path": payload},
            content=b"pwned",
        ),
    )
    yield (
        "logged-model files",
        client.get(
            f"/ajax-api/2.0/mlflow/logged-models/{model['model_id']}/artifacts/files",
            params={"artifact_file_path": payload},
        ),
    )


@pytest.mark.parametrize("target", ["secret.txt", "victim-dir"])
def test_traversal_is_rejected_on_every_route(
    api: Api, outside: Path, outside_state: Snapshot, target: str
) -> None:
    before = outside_state()
    for payload in traversal_payloads(outside / target):
        for where, response in _every_route(api, payload):
            _assert_invalid_path(response, f"{where} {payload!r}")
    assert outside_state() == before


def test_ordinary_nested_paths_are_unaffected(api: Api) -> None:
    run = create_run(api)
    base = proxy_path(run["artifact_uri"])
    for path in ("a/b/c.txt", "a/..b/c.txt", "x..y.txt", "...", "a/.hidden", "%41.txt"):
        put(api.client, f"{base}/{path}", path.encode())
        assert get(api.client, f"{base}/{path}").content == path.encode(), path


def test_encoded_slash_and_dot_names_are_literal_names_not_separators(api: Api) -> None:
    # "a%2Fb" on the wire is the name "a/b" after one decoding: a nested path, never a
    # traversal; "..." and "a..b" are plain names.
    put(api.client, "1/r/artifacts/a%2Fb.txt", b"nested")
    assert listing(api.client, "1/r/artifacts/a") == {
        "files": [{"path": "b.txt", "is_dir": False, "file_size": 6}]
    }


# -- the local folder: symbolic links never lead outside the root ----------------------------


def test_symlinks_never_escape_the_root(
    client: TestClient, server_config: ServerConfig, outside: Path
) -> None:
    dest = Path(server_config.artifacts_destination)
    put(client, "1/r/artifacts/real.txt", b"inside")
    os.symlink(outside, dest / "1" / "r" / "artifacts" / "escape-dir")
    os.symlink(outside / "secret.txt", dest / "1" / "r" / "artifacts" / "escape.txt")
    os.symlink(dest / "1" / "r" / "artifacts" / "real.txt", dest / "1" / "r" / "artifacts" / "inner.txt")
    before = sorted(p.name for p in outside.rglob("*"))

    for path in ("1/r/artifacts/escape.txt", "1/r/artifacts/escape-dir/secret.txt"):
        _assert_invalid_path(get(client, path), path)
    _assert_invalid_path(client.put(f"{PROXY}/1/r/artifacts/escape-dir/new.txt", content=b"x"), "put")
    _assert_invalid_path(client.get(PROXY, params={"path": "1/r/artifacts/escape-dir"}), "list")
    # Links that escape are not listed; a link that stays inside is an ordinary file.
    assert listing(client, "1/r/artifacts") == {
        "files": [
            {"path": "inner.txt", "is_dir": False, "file_size": 6},
            {"path": "real.txt", "is_dir": False, "file_size": 6},
        ]
    }
    assert get(client, "1/r/artifacts/inner.txt").content == b"inside"
    # Deleting a link removes the link only.
    assert client.delete(f"{PROXY}/1/r/artifacts/escape-dir").status_code == 200
    assert client.delete(f"{PROXY}/1/r/artifacts/escape.txt").status_code == 200
    assert sorted(p.name for p in outside.rglob("*")) == before
    assert (outside / "secret.txt").read_bytes() == SECRET
    # Overwriting a link replaces the link, never the file it points to.
    os.symlink(outside / "secret.txt", dest / "1" / "r" / "artifacts" / "again.txt")
    put(client, "1/r/artifacts/again.txt", b"replaced")
    assert (outside / "secret.txt").read_bytes() == SECRET
    assert not (dest / "1" / "r" / "artifacts" / "again.txt").is_symlink()


def test_a_root_that_is_itself_a_symlink_works(
    make_client: Callable[[ServerConfig], TestClient], server_config: ServerConfig, tmp_path: Path
) -> None:
    real = tmp_path / "real-store"
    real.mkdir()
    os.symlink(real, tmp_path / "linked-store")
    config = ServerConfig(
        backend_store_uri=server_config.backend_store_uri,
        artifacts_destination=str(tmp_path / "linked-store"),
    )
    client = make_client(config)
    put(client, "1/r/artifacts/a.txt", b"via link")
    assert (real / "1" / "r" / "artifacts" / "a.txt").read_bytes() == b"via link"
    assert get(client, "1/r/artifacts/a.txt").content == b"via link"


def test_stored_run_locations_outside_the_roots_are_never_opened(api: Api, outside: Path) -> None:
    # A run whose recorded location lies outside every configured root (an old database, a
    # hand edit) is refused rather than served.
    import sqlalchemy as sa

    from ledgerflow.store.schema import runs

    run = create_run(api)
    services = api.client.app.state.services  # type: ignore[attr-defined]
    for location in (
        str(outside),
        f"file://{outside}",
        "mlflow-artifacts:/../../outside",
        "s3://other-bucket/x",
    ):
        with services.db.write() as conn:
            conn.execute(
                sa.update(runs).where(runs.c.run_uuid == run["run_id"]).values(artifact_uri=location)
            )
        response = api.client.get("/get-artifact", params={"run_id": run["run_id"], "path": "secret.txt"})
        assert response.status_code == 400, location
        assert SECRET not in response.content
        listed = api.client.get("/api/2.0/mlflow/artifacts/list", params={"run_id": run["run_id"]})
        assert listed.status_code == 400, location
        with pytest.raises(InvalidParameter):
            services.artifacts.delete_tree(location)
    assert (outside / "secret.txt").read_bytes() == SECRET
