"""Artifacts through the client: paths (BC-58), downloads (BC-46), figures, images, digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ledgerflow
from ledgerflow.errors import InvalidParameter, LedgerflowError
from tests.client.conftest import ThreadServer


@pytest.fixture(autouse=True)
def _uri(tracking_uri: str) -> None:
    ledgerflow.set_tracking_uri(tracking_uri)


def _listing(run_id: str, path: str | None = None) -> list[tuple[str, bool]]:
    return [(f.path, f.is_dir) for f in ledgerflow.list_artifacts(run_id, path)]


def test_log_text_and_log_dict_paths_are_normalized(tmp_path: Path) -> None:
    with ledgerflow.start_run() as run:
        ledgerflow.log_text("hello", "notes.txt")
        ledgerflow.log_text("x", "dir/sub/a.txt")
        ledgerflow.log_text("y", "./b.txt")
        ledgerflow.log_dict({"k": "v"}, "conf.json")
        ledgerflow.log_dict({"k": "v"}, "conf/c.yaml")
        ledgerflow.log_dict({"k": "v"}, "c.yml")
        ledgerflow.log_dict({"k": "v"}, "c.txt")
    run_id = run.info.run_id
    assert _listing(run_id) == [
        ("b.txt", False),
        ("c.txt", False),
        ("c.yml", False),
        ("conf", True),
        ("conf.json", False),
        ("dir", True),
        ("notes.txt", False),
    ]
    assert _listing(run_id, "dir") == [("dir/sub", True)]
    assert _listing(run_id, "dir/sub") == [("dir/sub/a.txt", False)]
    # Listing a file gives nothing (BC-33), which is how downloads tell files from folders.
    assert _listing(run_id, "notes.txt") == []

    got = Path(ledgerflow.download_artifacts(run_id, "conf/c.yaml", tmp_path / "d"))
    assert got == tmp_path / "d" / "conf" / "c.yaml"
    assert got.read_text().strip() == "k: v"
    json_file = Path(ledgerflow.download_artifacts(run_id, "c.txt", tmp_path / "d"))
    assert json.loads(json_file.read_text()) == {"k": "v"}
    yml = Path(ledgerflow.download_artifacts(run_id, "c.yml", tmp_path / "d")).read_text()
    assert yml.strip() == "k: v"


def test_download_layout_keeps_the_directory_prefix(tmp_path: Path) -> None:
    with ledgerflow.start_run() as run:
        ledgerflow.log_text("my_content", "my_dir/my_file.txt")
        ledgerflow.log_text("x", "a/b/c.txt")
    run_id = run.info.run_id

    one = tmp_path / "one"
    assert ledgerflow.download_artifacts(run_id, "my_dir/my_file.txt", one) == str(
        one / "my_dir" / "my_file.txt"
    )
    assert (one / "my_dir" / "my_file.txt").read_text() == "my_content"

    two = tmp_path / "two"
    assert ledgerflow.download_artifacts(run_id, "my_dir", two) == str(two / "my_dir")
    assert (two / "my_dir" / "my_file.txt").read_text() == "my_content"

    three = tmp_path / "three"
    assert ledgerflow.download_artifacts(run_id, dst_path=three) == str(three)
    assert (three / "my_dir" / "my_file.txt").is_file()
    assert (three / "a" / "b" / "c.txt").read_text() == "x"

    four = tmp_path / "four"
    client = ledgerflow.Client(ledgerflow.get_tracking_uri())
    assert client.download_artifacts(run_id, "a", four) == str(four / "a")
    assert (four / "a" / "b" / "c.txt").is_file()
    client.close()


def test_download_with_an_explicit_tracking_uri(tmp_path: Path, tracking_uri: str) -> None:
    with ledgerflow.start_run() as run:
        ledgerflow.log_text("here", "f.txt")
    ledgerflow.set_tracking_uri(tmp_path / "elsewhere")
    got = ledgerflow.download_artifacts(run.info.run_id, "f.txt", tmp_path / "d", tracking_uri=tracking_uri)
    assert Path(got).read_text() == "here"


def test_log_artifact_and_log_artifacts_stream_files(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "nested").mkdir(parents=True)
    (source / "top.bin").write_bytes(bytes(range(256)) * 8192)  # 2 MiB, several chunks
    (source / "nested" / "inner.txt").write_text("inner")
    (source / "with space.txt").write_text("spaces")
    with ledgerflow.start_run() as run:
        ledgerflow.log_artifact(source / "top.bin")
        ledgerflow.log_artifact(source / "with space.txt", artifact_path="docs")
        ledgerflow.log_artifacts(source, artifact_path="tree")
    run_id = run.info.run_id
    top = [f for f in ledgerflow.list_artifacts(run_id) if f.path == "top.bin"][0]
    assert top.file_size == 2 * 1024 * 1024
    assert _listing(run_id, "tree") == [
        ("tree/nested", True),
        ("tree/top.bin", False),
        ("tree/with space.txt", False),
    ]
    out = Path(ledgerflow.download_artifacts(run_id, "", tmp_path / "all"))
    assert (out / "top.bin").read_bytes() == (source / "top.bin").read_bytes()
    assert (out / "docs" / "with space.txt").read_text() == "spaces"
    assert (out / "tree" / "nested" / "inner.txt").read_text() == "inner"


def test_artifact_paths_cannot_escape_the_run(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    with ledgerflow.start_run():
        with pytest.raises(InvalidParameter):
            ledgerflow.log_artifact(tmp_path / "f.txt", artifact_path="../outside")
        with pytest.raises(InvalidParameter):
            ledgerflow.log_text("x", "../../etc/x.txt")


def test_missing_artifact_download_is_not_found(tmp_path: Path) -> None:
    with ledgerflow.start_run() as run:
        ledgerflow.log_text("x", "a.txt")
    with pytest.raises(LedgerflowError) as caught:
        ledgerflow.download_artifacts(run.info.run_id, "nope.txt", tmp_path)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_log_figure_saves_by_extension(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([0, 1], [1, 0])
    with ledgerflow.start_run() as run:
        ledgerflow.log_figure(figure, "plots/line.png")
        ledgerflow.log_figure(figure, "plots/line.svg")
    plt.close(figure)
    png = Path(ledgerflow.download_artifacts(run.info.run_id, "plots/line.png", tmp_path))
    svg = Path(ledgerflow.download_artifacts(run.info.run_id, "plots/line.svg", tmp_path))
    assert png.read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in svg.read_bytes()[:500]


def test_log_image_from_numpy_and_pil(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.zeros((4, 6, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0)
    with ledgerflow.start_run() as run:
        ledgerflow.log_image(pixels, "img/array.png")
        ledgerflow.log_image(np.linspace(0, 1, 12).reshape(3, 4), "img/gray.png")
        ledgerflow.log_image(Image.new("RGB", (2, 2), (0, 255, 0)), "img/pil.png")
        with pytest.raises(InvalidParameter):
            ledgerflow.log_image(np.full((2, 2), 3.5), "img/bad.png")
    run_id = run.info.run_id
    array = Image.open(ledgerflow.download_artifacts(run_id, "img/array.png", tmp_path))
    assert array.size == (6, 4) and tuple(array.convert("RGB").getpixel((0, 0))) == (255, 0, 0)  # type: ignore[arg-type]
    gray = Image.open(ledgerflow.download_artifacts(run_id, "img/gray.png", tmp_path))
    assert gray.size == (4, 3)
    pil = Image.open(ledgerflow.download_artifacts(run_id, "img/pil.png", tmp_path))
    assert tuple(pil.convert("RGB").getpixel((1, 1))) == (0, 255, 0)  # type: ignore[arg-type]


def lying_artifact_server(body: bytes, announced: str) -> Any:
    """A tiny server whose artifact proxy announces a digest that does not match the bytes."""
    run = {
        "info": {
            "run_id": "r" * 32,
            "experiment_id": "1",
            "artifact_uri": "mlflow-artifacts:/1/" + "r" * 32 + "/artifacts",
            "status": "FINISHED",
            "lifecycle_stage": "active",
        },
        "data": {},
    }

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        headers = [(b"content-type", b"application/json")]
        if path == "/api/2.0/mlflow/runs/get":
            payload = json.dumps({"run": run}).encode()
        elif path == "/api/2.0/mlflow-artifacts/artifacts":
            payload = b"{}"
        else:
            payload = body
            headers = [(b"content-type", b"text/plain"), (b"x-ledgerflow-sha256", announced.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


@pytest.mark.parametrize("tracking_uri", ["none"], indirect=True)
def test_download_verifies_the_announced_sha256(tmp_path: Path, serve: Callable[..., ThreadServer]) -> None:
    good = hashlib.sha256(b"payload").hexdigest()
    honest = serve(lying_artifact_server(b"payload", good))
    client = ledgerflow.Client(honest.url)
    assert Path(client.download_artifacts("r" * 32, "f.txt", tmp_path / "ok")).read_bytes() == b"payload"
    client.close()

    liar = serve(lying_artifact_server(b"tampered", good))
    client = ledgerflow.Client(liar.url)
    with pytest.raises(LedgerflowError, match="integrity check") as caught:
        client.download_artifacts("r" * 32, "f.txt", tmp_path / "bad")
    assert caught.value.error_code == "DATA_LOSS"
    assert not any(p.is_file() for p in (tmp_path / "bad").rglob("*"))
    client.close()
