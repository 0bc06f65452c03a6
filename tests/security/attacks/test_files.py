"""Arbitrary file read, write and delete through links and archives: a symbolic link inside an
uploaded artifact tree (placed there by anything with access to the store) never lets a request
read, list, write or delete beside the artifact root, and a model archive whose members climb
out, are absolute, or are links is refused before anything is extracted."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerflow.errors import InvalidParameter
from ledgerflow.models.uri import download_model
from tests.security.attacks.conftest import SECRET, Target, refused, start_target


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    made, live = start_target(tmp_path_factory.mktemp("links"))
    run_dir = made.world.artifact_root / made.world.experiment_id / made.world.run_id / "artifacts"
    os.symlink(made.outside, run_dir / "dir-link")
    os.symlink(made.outside / "secret.txt", run_dir / "file-link")
    os.symlink("../../../../outside/secret.txt", run_dir / "relative-link")
    try:
        yield made
    finally:
        live.stop()


def _cases(t: Target) -> dict[str, tuple[str, str, bytes | None]]:
    w = t.world
    proxy = f"/api/2.0/mlflow-artifacts/artifacts/{w.experiment_id}/{w.run_id}/artifacts"
    return {
        "proxy-read-through-dir-link": ("GET", f"{proxy}/dir-link/secret.txt", None),
        "proxy-read-file-link": ("GET", f"{proxy}/file-link", None),
        "proxy-read-relative-link": ("GET", f"{proxy}/relative-link", None),
        "get-artifact-file-link": ("GET", f"/get-artifact?run_uuid={w.run_id}&path=file-link", None),
        "get-artifact-through-dir-link": (
            "GET",
            f"/get-artifact?run_uuid={w.run_id}&path=dir-link/secret.txt",
            None,
        ),
        "list-through-dir-link": (
            "GET",
            f"/api/2.0/mlflow/artifacts/list?run_id={w.run_id}&path=dir-link",
            None,
        ),
        "proxy-list-through-dir-link": (
            "GET",
            f"/api/2.0/mlflow-artifacts/artifacts?path={w.experiment_id}/{w.run_id}/artifacts/dir-link",
            None,
        ),
        "proxy-write-through-dir-link": ("PUT", f"{proxy}/dir-link/planted.txt", b"planted"),
        "upload-through-dir-link": (
            "POST",
            f"/ajax-api/2.0/mlflow/upload-artifact?run_uuid={w.run_id}&path=dir-link/planted.txt",
            b"planted",
        ),
        "proxy-delete-through-dir-link": ("DELETE", f"{proxy}/dir-link/secret.txt", None),
    }


CASES = [
    "proxy-read-through-dir-link",
    "proxy-read-file-link",
    "proxy-read-relative-link",
    "get-artifact-file-link",
    "get-artifact-through-dir-link",
    "list-through-dir-link",
    "proxy-list-through-dir-link",
    "proxy-write-through-dir-link",
    "upload-through-dir-link",
    "proxy-delete-through-dir-link",
]


@pytest.mark.parametrize("case", CASES)
def test_symlink_in_an_artifact_tree_never_leaves_the_root(target: Target, case: str) -> None:
    method, path, body = _cases(target)[case]
    headers = {"Content-Type": "application/octet-stream"} if body else {}
    with target.unchanged():
        answer = target.request(method, path, body=body, headers=headers)
        refused(answer, 400, "INVALID_PARAMETER_VALUE")
    assert (target.outside / "secret.txt").read_text() == SECRET
    assert sorted(p.name for p in target.outside.iterdir()) == ["secret.txt"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_writing_or_deleting_at_a_link_acts_on_the_link_never_its_target(target: Target, method: str) -> None:
    """A PUT at a link's path replaces the link (the upload is renamed over it) and a DELETE
    removes the link itself: either way the file it pointed to is untouched."""
    w = target.world
    run_dir = w.artifact_root / w.experiment_id / w.run_id / "artifacts"
    link = run_dir / f"own-link-{method.lower()}"
    os.symlink(target.outside if method == "DELETE" else target.outside / "secret.txt", link)
    path = f"/api/2.0/mlflow-artifacts/artifacts/{w.experiment_id}/{w.run_id}/artifacts/{link.name}"
    before = target.state()
    answer = target.request(method, path, body=b"replaced" if method == "PUT" else None)
    assert answer.status == 200, answer.text
    assert (target.outside / "secret.txt").read_text() == SECRET
    assert sorted(p.name for p in target.outside.iterdir()) == ["secret.txt"]
    assert not link.is_symlink()
    if method == "PUT":
        assert link.read_bytes() == b"replaced"
    else:
        assert not link.exists()
    # Rows and the files beside the root are as before (only the link's own entry changed).
    after = target.state()
    assert after[:-2] == before[:-2] and after[-1] == before[-1]


def test_listing_the_run_does_not_follow_links(target: Target) -> None:
    w = target.world
    with target.unchanged():
        answer = target.request("GET", f"/api/2.0/mlflow/artifacts/list?run_id={w.run_id}")
    assert answer.status == 200, answer.text
    assert SECRET not in answer.text
    for entry in answer.json().get("files", []):
        assert not entry["path"].startswith("dir-link/")


def _tar(tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        good = tarfile.TarInfo("model/MLmodel")
        good.size = 3
        bundle.addfile(good, io.BytesIO(b"x: 1"[:3]))
        member = tarfile.TarInfo(name)
        member.type = kind
        member.linkname = link
        member.size = 0 if link else 7
        bundle.addfile(member, None if link else io.BytesIO(b"planted"))
    return archive


def _zip(tmp_path: Path, name: str, *, symlink_to: str = "") -> Path:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("model/MLmodel", "x: 1")
        info = zipfile.ZipInfo(name)
        if symlink_to:
            info.external_attr = 0o120777 << 16
            bundle.writestr(info, symlink_to)
        else:
            bundle.writestr(info, b"planted")
    return archive


ARCHIVES = {
    "tar-dotdot-member": lambda d: _tar(d, "../../planted"),
    "tar-nested-dotdot-member": lambda d: _tar(d, "model/../../../planted"),
    "tar-absolute-member": lambda d: _tar(d, str(d / "abs-planted")),
    "tar-symlink-member": lambda d: _tar(d, "model/link", tarfile.SYMTYPE, "/etc"),
    "tar-hardlink-member": lambda d: _tar(d, "model/hard", tarfile.LNKTYPE, "/etc/passwd"),
    "tar-device-member": lambda d: _tar(d, "model/dev", tarfile.CHRTYPE),
    "zip-dotdot-member": lambda d: _zip(d, "../../planted"),
    "zip-absolute-member": lambda d: _zip(d, str(d / "abs-planted")),
    "zip-symlink-member": lambda d: _zip(d, "model/link", symlink_to="/etc"),
}


@pytest.mark.parametrize("case", list(ARCHIVES))
def test_model_archive_members_cannot_escape(tmp_path: Path, case: str) -> None:
    source = tmp_path / "src"
    source.mkdir()
    archive = ARCHIVES[case](source)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(InvalidParameter, match="Refusing archive member"):
        download_model(str(archive), tmp_path / "out" / "dst")
    after = sorted(str(p) for p in tmp_path.rglob("*") if "out" not in p.relative_to(tmp_path).parts[:1])
    assert after == before
    # Nothing at all was extracted, not even the well-formed members before the bad one.
    assert not any((tmp_path / "out").rglob("*planted*"))
    assert not (tmp_path / "planted").exists() and not (source / "abs-planted").exists()
