"""The environment a model needs: ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``.

Pins come from the environment the model is saved in (``importlib.metadata``), so a model
trained with scikit-learn 1.5 asks for 1.5 wherever it is served. Besides the flavor's own
packages, the distributions that provide the model object's classes are added too.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

REQUIREMENTS_FILE = "requirements.txt"
PYTHON_ENV_FILE = "python_env.yaml"
CONDA_FILE = "conda.yaml"
ENV_CONFIG = {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE}
_BUILD_DEPENDENCIES = ("pip", "setuptools", "wheel")


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def pin(distribution: str, *, required: bool = False) -> str | None:
    """``name==version`` for an installed distribution; the bare name if *required* but absent."""
    version = installed_version(distribution)
    if version is None:
        return distribution if required else None
    if "+" in version:
        # Local version labels (1.0+cpu) are not installable from an index.
        version = version.split("+", 1)[0]
    return f"{distribution}=={version}"


def distributions_of(objects: Iterable[Any]) -> list[str]:
    """The installed distributions whose top-level modules define the objects' classes."""
    providers = metadata.packages_distributions()
    found: list[str] = []
    for obj in objects:
        for cls in type(obj).__mro__:
            top = (cls.__module__ or "").split(".", 1)[0]
            for dist in providers.get(top, []):
                if dist not in found:
                    found.append(dist)
    return found


def _name(requirement: str) -> str:
    for separator in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
        requirement = requirement.split(separator, 1)[0]
    return requirement.strip().lower().replace("_", "-")


def requirements(
    defaults: Sequence[str],
    *,
    model_objects: Iterable[Any] = (),
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    always: Sequence[str] = ("mlflow",),
) -> list[str]:
    """The requirement lines: *pip_requirements* as given, or the flavor's *defaults* and the
    model's own providers pinned from this environment; then *extra_pip_requirements*."""
    if pip_requirements is not None:
        lines = [str(r) for r in pip_requirements]
    else:
        lines = [pin(d, required=True) or d for d in always]
        for dist in [*defaults, *distributions_of(model_objects)]:
            line = pin(dist)
            if line is not None:
                lines.append(line)
    for extra in extra_pip_requirements or ():
        lines.append(str(extra))
    unique: dict[str, str] = {}
    for line in lines:
        unique.setdefault(_name(line), line)
    return list(unique.values())


def write_environment(directory: Path, lines: Sequence[str]) -> dict[str, str]:
    """Write the three environment files; returns the flavor's ``env`` config."""
    import yaml

    python_version = platform.python_version()
    (directory / REQUIREMENTS_FILE).write_text("".join(f"{line}\n" for line in lines))
    python_env = {
        "python": python_version,
        "build_dependencies": [pin(d, required=True) for d in _BUILD_DEPENDENCIES],
        "dependencies": [f"-r {REQUIREMENTS_FILE}"],
    }
    (directory / PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False))
    pip_version = installed_version("pip")
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [
            f"python={python_version}",
            f"pip<={pip_version}" if pip_version else "pip",
            {"pip": list(lines)},
        ],
        "name": "mlflow-env",
    }
    (directory / CONDA_FILE).write_text(yaml.safe_dump(conda, sort_keys=False))
    return dict(ENV_CONFIG)


def read_requirements(directory: Path) -> list[str]:
    path = directory / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
