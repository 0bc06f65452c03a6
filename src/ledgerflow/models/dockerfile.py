"""A Dockerfile that serves one model with ``ledgerflow models serve``.

The model directory is copied into the build context beside the Dockerfile, so the image
needs no tracking server at runtime; the model's own ``requirements.txt`` is installed.
"""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

from ledgerflow.errors import ResourceAlreadyExists

MODEL_DIR = "model_dir"
PORT = 8080


def render(python_version: str, ledgerflow_requirement: str = "ledgerflow[server,demo]") -> str:
    major_minor = ".".join(python_version.split(".")[:2])
    return "\n".join(
        [
            f"FROM python:{major_minor}-slim",
            "",
            "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1",
            "WORKDIR /opt/ledgerflow",
            "RUN useradd --create-home --uid 10001 scorer",
            f"COPY {MODEL_DIR} /opt/ml/model",
            "RUN pip install --no-cache-dir -r /opt/ml/model/requirements.txt \\",
            f"    && pip install --no-cache-dir '{ledgerflow_requirement}'",
            "USER scorer",
            f"EXPOSE {PORT}",
            "# Bound to 0.0.0.0, the server needs a token: docker run -e LEDGERFLOW_SCORING_TOKEN=<secret>",
            "# (clients send 'Authorization: Bearer <secret>'); without one it refuses to start.",
            'HEALTHCHECK CMD python -c "import urllib.request;'
            f" urllib.request.urlopen('http://127.0.0.1:{PORT}/ping')\"",
            f'ENTRYPOINT ["ledgerflow", "models", "serve", "-m", "/opt/ml/model", "-h", "0.0.0.0", "-p", "{PORT}"]',
            "",
        ]
    )


def python_version_of(model_dir: Path) -> str:
    from ledgerflow.models.mlmodel import Model

    config = Model.load(model_dir).flavors.get("python_function", {})
    return str(config.get("python_version") or platform.python_version())


def generate(model_dir: Path, output_directory: Path) -> Path:
    """Write ``Dockerfile`` and ``model_dir/`` under *output_directory*; returns the Dockerfile."""
    output_directory.mkdir(parents=True, exist_ok=True)
    target = output_directory / MODEL_DIR
    if target.exists():
        raise ResourceAlreadyExists(f"'{target}' already exists; choose an empty output directory.")
    shutil.copytree(model_dir, target, symlinks=False)
    dockerfile = output_directory / "Dockerfile"
    dockerfile.write_text(render(python_version_of(model_dir)))
    return dockerfile
