"""Model files for the scanning tests: clean models built with real libraries, and the
malicious kinds of security-classes.md 1d built byte by byte (nothing here is ever loaded
outside the restricted unpickler)."""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

PROTO4 = b"\x80\x04"
STOP = b"."
MEMOIZE = b"\x94"
STACK_GLOBAL = b"\x93"
REDUCE = b"R"
TUPLE1 = b"\x85"
POP = b"0"


def text(value: str) -> bytes:
    raw = value.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def binget(index: int) -> bytes:
    return b"h" + bytes([index])


def call_global(module: str, name: str, argument: str) -> bytes:
    """A protocol-0 pickle: ``module.name(argument)``."""
    return f"c{module}\n{name}\n(V{argument}\ntR.".encode()


def memo_confusion(module: str, name: str, argument: str) -> bytes:
    """The STACK_GLOBAL memo trick that fooled deny-list scanners: the real operands are
    memoized, popped, decoys pushed and popped, then the real ones fetched with GET."""
    return (
        PROTO4
        + text(module)
        + MEMOIZE
        + POP
        + text(name)
        + MEMOIZE
        + POP
        + text("builtins")
        + text("len")
        + POP
        + POP
        + binget(0)
        + binget(1)
        + STACK_GLOBAL
        + text(argument)
        + TUPLE1
        + REDUCE
        + STOP
    )


def unresolvable_stack_global() -> bytes:
    """STACK_GLOBAL whose module is computed by a call (``_codecs.encode('os', ...)``)."""
    return (
        PROTO4 + b"c_codecs\nencode\n" + text("os") + TUPLE1 + REDUCE + text("system") + STACK_GLOBAL + STOP
    )


def extension_import() -> bytes:
    return PROTO4 + b"\x82\x01" + STOP  # EXT1 code 1


class SystemCall:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


class LoggerOnly:
    def __reduce__(self) -> tuple[Any, ...]:
        return (logging.getLogger, ("harmless",))


def logger_pickle() -> bytes:
    return pickle.dumps(LoggerOnly(), protocol=pickle.HIGHEST_PROTOCOL)


def system_pickle(protocol: int = pickle.HIGHEST_PROTOCOL) -> bytes:
    return pickle.dumps(SystemCall(), protocol=protocol)


def torch_archive(payload: bytes) -> bytes:
    """A PyTorch zip archive (``torch.save`` layout) whose ``data.pkl`` is *payload*."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("model/data.pkl", payload)
        archive.writestr("model/version", "3\n")
        archive.writestr("model/data/0", np.arange(16, dtype=np.float32).tobytes())
    return out.getvalue()


def torch_legacy(payload: bytes) -> bytes:
    """PyTorch's legacy format: magic number, protocol and system-info pickles, then the model."""
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    head += pickle.dumps({"little_endian": True}, protocol=2)
    return head + payload


def nested_zip(payload: bytes) -> bytes:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("weights.bin", payload)
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("bundle.zip", inner.getvalue())
    return outer.getvalue()


def keras_h5_lambda() -> bytes:
    """An HDF5 file whose model_config attribute describes a Lambda layer."""
    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {
                    "class_name": "Lambda",
                    "config": {"name": "lambda", "function": ["4wEAAAAAAAAA", None, None]},
                }
            ]
        },
    }
    body = b"model_config\x00" + json.dumps(config).encode() + b"\x00" * 64
    return b"\x89HDF\r\n\x1a\n" + b"\x00" * 504 + body


def keras_zip_lambda() -> bytes:
    out = io.BytesIO()
    config = {"class_name": "Functional", "config": {"layers": [{"class_name": "Lambda", "config": {}}]}}
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        archive.writestr("config.json", json.dumps(config))
    return out.getvalue()


def object_npy(value: Any) -> bytes:
    out = io.BytesIO()
    np.save(out, np.array([value], dtype=object), allow_pickle=True)
    return out.getvalue()


def npz_with_object(value: Any) -> bytes:
    out = io.BytesIO()
    np.savez(out, numbers=np.arange(4), objects=np.array([value], dtype=object))
    return out.getvalue()


def joblib_with_object(path: Path, value: Any) -> None:
    import joblib

    joblib.dump({"weights": np.arange(10.0), "extra": np.array([value], dtype=object)}, path)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def forest(n_estimators: int = 5) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    features = rng.normal(size=(80, 4))
    labels = (features[:, 0] > 0).astype(int)
    return RandomForestClassifier(n_estimators=n_estimators, random_state=0).fit(features, labels)


def training_frame() -> Any:
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(80, 4)), columns=["a", "b", "c", "d"])
    return frame, (frame["a"] > 0).astype(int)


def struct_u32(value: int) -> bytes:
    return struct.pack("<I", value)
