"""``ledgerflow artifacts``: upload, list and download a run's artifacts through the tracking URI."""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ledgerflow.cli.experiments import print_table, reading_client, tracking_uri_option
from ledgerflow.client.client import Client
from ledgerflow.errors import InvalidParameter

F = TypeVar("F", bound=Callable[..., Any])

# Below these sizes an upload is quick and a progress bar would only be noise.
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
PROGRESS_MIN_FILES = 20


@click.group()
def artifacts() -> None:
    """Upload, list and download run artifacts."""


def _files_to_upload(source: Path, artifact_path: str | None) -> list[tuple[Path, str | None]]:
    """(local file, artifact folder) pairs, in a stable order."""
    if source.is_file():
        return [(source, artifact_path)]
    if not source.is_dir():
        raise InvalidParameter(f"No such file or directory: '{source}'")
    pairs = []
    for folder, _dirs, names in sorted(os.walk(source)):
        relative = Path(folder).relative_to(source).as_posix()
        parts = [p for p in (artifact_path, "" if relative == "." else relative) if p]
        for name in sorted(names):
            pairs.append((Path(folder) / name, posixpath.join(*parts) if parts else None))
    return pairs


@artifacts.command("upload")
@click.option("--run-id", "-r", required=True)
@click.option(
    "--local-path", "-l", required=True, type=click.Path(path_type=Path), help="A file or a folder."
)
@click.option("--artifact-path", "-a", default=None, help="Folder inside the run's artifacts.")
@tracking_uri_option
def upload(run_id: str, local_path: Path, artifact_path: str | None, tracking_uri: str | None) -> None:
    """Upload a file, or a folder's contents, to a run's artifacts (progress on stderr)."""
    files = _files_to_upload(local_path, artifact_path)
    client = Client(tracking_uri)
    client.get_run(run_id)  # one clear "not found" before any upload starts
    total = sum(path.stat().st_size for path, _ in files)
    if total < PROGRESS_MIN_BYTES and len(files) < PROGRESS_MIN_FILES:
        for path, folder in files:
            client.log_artifact(run_id, path, folder)
    else:
        with click.progressbar(length=total, label="Uploading", file=sys.stderr) as bar:
            for path, folder in files:
                client.log_artifact(run_id, path, folder)
                bar.update(path.stat().st_size)
    click.echo(f"Uploaded {len(files)} file(s), {total} bytes, to run {run_id}.")


def _path_option(default: str | None, what: str) -> Callable[[F], F]:
    """``--path``/``-p`` of list and download; mlflow's spelling ``--artifact-path``/``-a``
    works too, so its users' habits carry over."""
    return click.option(
        "--path",
        "-p",
        "--artifact-path",
        "-a",
        "path",
        default=default,
        help=f"{what} (--artifact-path/-a, as in mlflow, work too).",
    )


@artifacts.command("list")
@click.option("--run-id", "-r", required=True)
@_path_option(None, "Folder inside the run's artifacts")
@tracking_uri_option
def list_artifacts(run_id: str, path: str | None, tracking_uri: str | None) -> None:
    """List a run's artifacts: Path, Type, Size.

    A folder that does not exist lists as empty (exit 0), as MLflow's list-artifacts API and
    `mlflow artifacts list` answer: the API does not tell a missing folder from an empty one.
    `download` of a path that does not exist is an error (exit 4)."""
    found = reading_client(tracking_uri).list_artifacts(run_id, path)
    rows = [
        [f.path, "dir" if f.is_dir else "file", "" if f.file_size is None else str(f.file_size)]
        for f in found
    ]
    print_table(["Path", "Type", "Size"], rows)


@artifacts.command("download")
@click.option("--run-id", "-r", required=True)
@_path_option("", "A file or folder inside the run's artifacts (default: all)")
@click.option(
    "--dst-path", "-d", default=None, type=click.Path(path_type=Path), help="Local folder (made if missing)."
)
@tracking_uri_option
def download(run_id: str, path: str, dst_path: Path | None, tracking_uri: str | None) -> None:
    """Download artifacts, keeping their layout; prints the local path.

    A path that does not exist in the run is an error (exit 4)."""
    if dst_path is not None and dst_path.exists() and not dst_path.is_dir():
        raise InvalidParameter(f"--dst-path {dst_path} is a file, not a folder.")
    click.echo(reading_client(tracking_uri).download_artifacts(run_id, path, dst_path))
