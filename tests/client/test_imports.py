"""Import hygiene of the light client: ``import ledgerflow`` stays cheap and server-free."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import ledgerflow

HEAVY = ("sqlalchemy", "starlette", "uvicorn", "boto3", "orjson", "pandas", "httpx", "alembic", "numpy")


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_import_pulls_in_no_heavy_dependency() -> None:
    out = _fresh(
        "import sys, json, ledgerflow\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(out))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_fluent_api_and_client_load_without_the_transport() -> None:
    # Touching the API resolves the lazy names but must not import httpx or the server yet.
    out = _fresh(
        "import sys, json, ledgerflow\n"
        "ledgerflow.start_run; ledgerflow.log_metric; ledgerflow.Client; ledgerflow.search_runs\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(json.loads(out))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    assert "ledgerflow" in loaded


def test_import_takes_at_most_200_ms() -> None:
    best = min(
        float(
            _fresh("import time; t = time.perf_counter(); import ledgerflow; print(time.perf_counter() - t)")
        )
        for _ in range(3)
    )
    assert best <= 0.2, f"import ledgerflow took {best:.3f} s"


def test_importtime_report_agrees() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ledgerflow"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    modules = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "ledgerflow" in modules
    assert not {m.split(".")[0] for m in modules} & set(HEAVY)


def test_all_is_complete_and_resolvable() -> None:
    # Subpackages show up as attributes once imported; they are not part of the API surface.
    public = {
        name
        for name, value in vars(ledgerflow).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    # Every public attribute is exported, and every exported name resolves.
    assert public <= set(ledgerflow.__all__) | {"annotations", "TYPE_CHECKING", "Any"}
    for name in ledgerflow.__all__:
        assert getattr(ledgerflow, name) is not None, name
    assert ledgerflow.__version__
    assert len(ledgerflow.__all__) == len(set(ledgerflow.__all__))


def test_all_covers_every_public_fluent_function() -> None:
    from ledgerflow.client import fluent

    functions = {
        name
        for name, value in vars(fluent).items()
        if callable(value)
        and not name.startswith("_")
        and getattr(value, "__module__", None) == fluent.__name__
        and name != "reset_fluent_state"
    }
    assert functions <= set(ledgerflow.__all__), functions - set(ledgerflow.__all__)


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        ledgerflow.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")
