"""Loading pickles with the scan's allow-list enforced again: an import that is not
allow-listed is refused by ``find_class`` before the object it names is touched, even when
the scan was bypassed (a file swapped in the store, a model loaded from a local path).

Globals beyond the shipped list (the classes of a custom ``PythonModel``) are allowed per
load with ``allow_globals=[...]``, per process with ``LEDGERFLOW_ALLOW_GLOBALS``
(comma-separated) or per scoring server with ``ledgerflow models serve --allow-global``.
"""

from __future__ import annotations

import os
import pickle
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

from ledgerflow.errors import PermissionDenied
from ledgerflow.governance.scanning.allowlist import AllowList, canonical, default_allowlist

ALLOW_ENV = "LEDGERFLOW_ALLOW_GLOBALS"
# Globals allowed for the loads running in this context (a load_model call, a server).
_EXTRA: ContextVar[tuple[str, ...]] = ContextVar("ledgerflow_allowed_globals", default=())


class UnsafeModel(PermissionDenied):
    """A model file was refused: a global not allow-listed, or a scan that is not clean."""


def allow_hint(dotted: str) -> str:
    return (
        f"If you trust this model, allow the global with allow_globals=['{dotted}'], "
        f"{ALLOW_ENV}={dotted}, `ledgerflow models serve --allow-global {dotted}`, or on the "
        f"server with `ledgerflow server --allow-global {dotted}` (then rescan the version)."
    )


@contextmanager
def allowing(globals_: Iterable[str]) -> Iterator[None]:
    """Allow extra globals for the loads inside the block."""
    token = _EXTRA.set((*_EXTRA.get(), *globals_))
    try:
        yield
    finally:
        _EXTRA.reset(token)


def runtime_allowlist() -> AllowList:
    """The shipped list plus what this context and ``LEDGERFLOW_ALLOW_GLOBALS`` allow."""
    from_env = [item for item in os.environ.get(ALLOW_ENV, "").split(",") if item.strip()]
    return default_allowlist().with_globals([*_EXTRA.get(), *from_env])


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], allowlist: AllowList, source: str) -> None:
        super().__init__(file)
        self.allowlist = allowlist
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if not self.allowlist.allows(module, name):
            dotted = ".".join(canonical(module, name))
            raise UnsafeModel(
                f"Refusing to load '{self.source}': it imports {dotted}, which is not on the "
                f"allow-list ({self.allowlist.version}). {allow_hint(dotted)}"
            )
        return super().find_class(module, name)


def restricted_load(file: IO[bytes], source: str, allowlist: AllowList | None = None) -> Any:
    """``pickle.load`` (and so ``cloudpickle.load``) with the allow-list enforced."""
    rules = allowlist or runtime_allowlist()
    try:
        return RestrictedUnpickler(file, rules, source).load()
    except UnsafeModel:
        raise
    except Exception as error:
        raise UnsafeModel(f"Refusing to load '{source}': it is not a readable pickle ({error}).") from None


def restricted_load_path(path: Path, allowlist: AllowList | None = None) -> Any:
    """Load a pickle or joblib file with the allow-list enforced. Joblib's reader handles
    plain pickles too (and its compressed and array-interleaved files), so it is used
    whenever joblib is installed."""
    try:
        import joblib  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        with path.open("rb") as handle:
            return restricted_load(handle, path.name, allowlist)
    return restricted_joblib_load(path, allowlist)


def restricted_joblib_load(path: Path, allowlist: AllowList | None = None) -> Any:
    """``joblib.load`` with ``find_class`` restricted (joblib routes the nested pickles of
    object arrays through the same ``find_class``)."""
    from joblib import numpy_pickle  # type: ignore[import-untyped]

    rules = allowlist or runtime_allowlist()
    source = path.name

    class _Restricted(numpy_pickle.NumpyUnpickler):  # type: ignore[misc]
        def find_class(self, module: str, name: str) -> Any:
            if not rules.allows(module, name):
                dotted = ".".join(canonical(module, name))
                raise UnsafeModel(
                    f"Refusing to load '{source}': it imports {dotted}, which is not on the "
                    f"allow-list ({rules.version}). {allow_hint(dotted)}"
                )
            return super().find_class(module, name)

        def load_build(self) -> None:
            # BUILD on an imported class, function or module would set attributes on it
            # (rewiring allowed code for everything loaded later): the scanner's
            # global_mutation finding, enforced here too.
            target = self.stack[-2] if len(self.stack) >= 2 else None
            if isinstance(target, type | types.FunctionType | types.BuiltinFunctionType | types.ModuleType):
                name = getattr(target, "__qualname__", getattr(target, "__name__", repr(target)))
                raise UnsafeModel(f"Refusing to load '{source}': it sets attributes on the imported {name}.")
            super().load_build()

        dispatch = dict(numpy_pickle.NumpyUnpickler.dispatch)
        dispatch[pickle.BUILD[0]] = load_build

    # joblib.load's own steps (decompression, then its unpickler), with our find_class.
    with (
        path.open("rb") as handle,
        numpy_pickle._validate_fileobject_and_memmap(handle, str(path), None) as (stream, _),
    ):
        try:
            return _Restricted(str(path), stream, True).load()
        except UnsafeModel:
            raise
        except Exception as error:
            raise UnsafeModel(
                f"Refusing to load '{source}': it is not a readable pickle ({error})."
            ) from None
