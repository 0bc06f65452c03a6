"""Turn in-memory objects (text, dicts, figures, images) into files ready for upload.

Each helper writes into a temporary folder and hands back (file, artifact_path), where
``artifact_path`` is the normalized folder part of the caller's ``artifact_file``: so
``dir/sub/a.txt`` is stored as ``a.txt`` under ``dir/sub`` and ``./b.txt`` at the root.
Optional libraries (PyYAML, matplotlib, Pillow, numpy) are imported only when used.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

from ledgerflow.client.artifacts import clean_artifact_path
from ledgerflow.errors import InvalidParameter, MissingExtra


def split_artifact_file(artifact_file: str) -> tuple[str, str | None]:
    """(file name, artifact folder or None) of a normalized artifact file path."""
    normalized = clean_artifact_path(artifact_file)
    if not normalized:
        raise InvalidParameter(f"Invalid artifact file name: '{artifact_file}'.")
    folder, name = posixpath.split(normalized)
    return name, folder or None


def write_text(folder: Path, artifact_file: str, text: str) -> tuple[Path, str | None]:
    name, artifact_path = split_artifact_file(artifact_file)
    target = folder / name
    target.write_text(text, encoding="utf-8")
    return target, artifact_path


def dict_to_text(dictionary: Any, artifact_file: str) -> str:
    """YAML for ``.yaml``/``.yml`` files, indented JSON for anything else."""
    if artifact_file.lower().endswith((".yaml", ".yml")):
        try:
            import yaml
        except ModuleNotFoundError:
            # JSON is valid YAML, so the file still loads as YAML without PyYAML here.
            return json.dumps(dictionary, indent=2)
        return str(yaml.safe_dump(dictionary, default_flow_style=False, sort_keys=False))
    return json.dumps(dictionary, indent=2)


def write_figure(folder: Path, figure: Any, artifact_file: str) -> tuple[Path, str | None]:
    """A matplotlib figure, saved in the format its extension names (PNG, SVG, PDF, ...);
    a plotly figure as HTML (or an image where its ``write_image`` is available)."""
    name, artifact_path = split_artifact_file(artifact_file)
    target = folder / name
    if hasattr(figure, "savefig"):
        figure.savefig(target)
    elif hasattr(figure, "write_html") and target.suffix.lower() in (".html", ".htm"):
        figure.write_html(str(target))
    elif hasattr(figure, "write_image"):
        figure.write_image(str(target))
    else:
        raise InvalidParameter(
            f"Unsupported figure type {type(figure).__name__}: expected a matplotlib or plotly figure."
        )
    return target, artifact_path


def _as_uint8(array: Any) -> Any:
    import numpy as np

    values = np.asarray(array)
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[2] not in (3, 4)):
        raise InvalidParameter(
            f"Invalid image shape {values.shape}: expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)."
        )
    if values.dtype == np.uint8:
        return values
    if np.issubdtype(values.dtype, np.floating):
        if values.size and (np.nanmin(values) < 0 or np.nanmax(values) > 1):
            raise InvalidParameter("Float image values must lie in [0, 1].")
        return np.round(np.nan_to_num(values) * 255).astype(np.uint8)
    if np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_:
        if values.size and (values.min() < 0 or values.max() > 255):
            raise InvalidParameter("Integer image values must lie in [0, 255].")
        return values.astype(np.uint8)
    raise InvalidParameter(f"Unsupported image dtype {values.dtype}.")


def write_image(folder: Path, image: Any, artifact_file: str) -> tuple[Path, str | None]:
    """A PIL image or a numpy array, as PNG (or what the extension names, for PIL)."""
    name, artifact_path = split_artifact_file(artifact_file)
    target = folder / name
    if hasattr(image, "save") and hasattr(image, "mode"):
        image.save(target)
        return target, artifact_path
    try:
        pixels = _as_uint8(image)
    except ModuleNotFoundError:
        raise MissingExtra("demo", "log_image with arrays (numpy)") from None
    try:
        from PIL import Image
    except ModuleNotFoundError:
        try:
            from matplotlib import image as mpl_image
        except ModuleNotFoundError:
            raise MissingExtra("demo", "log_image (matplotlib or Pillow)") from None
        mpl_image.imsave(target, pixels, format="png" if target.suffix.lower() in ("", ".png") else None)
        return target, artifact_path
    Image.fromarray(pixels).save(target)
    return target, artifact_path
