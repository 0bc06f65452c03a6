"""Where a store's private key files live by default: beside a SQLite (or local) store, so the
key travels with the data it signs; in ~/.ledgerflow for a database server's store."""

from __future__ import annotations

from pathlib import Path


def key_path_beside_store(backend_store_uri: str, file_name: str) -> str:
    if backend_store_uri.startswith("sqlite:///"):
        return str(Path(backend_store_uri[len("sqlite:///") :]).resolve().parent / file_name)
    if "://" not in backend_store_uri:
        return str(Path(backend_store_uri).resolve().parent / file_name)
    return str(Path.home() / ".ledgerflow" / file_name)
