"""The static scanner on real model files and on each malicious kind, through `ledgerflow
scan` (the CLI) and ``scan_path``."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerflow.cli.main import cli
from ledgerflow.governance.scanning.report import STATUSES, Limits
from ledgerflow.governance.scanning.scanner import scan_bytes, scan_path
from tests.governance.scanning import payloads as p


def _cli(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["scan", str(path), "--no-second-opinion", *args])
    return result.exit_code, result.output


# -- clean models ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_random_forest_pickle_is_clean_in_every_protocol(tmp_path: Path, protocol: int) -> None:
    path = p.write(tmp_path / "model.pkl", pickle.dumps(p.forest(), protocol=protocol))
    code, output = _cli(path)
    assert (code, output.split(":")[0]) == (0, "clean"), output


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)])
def test_joblib_files_are_clean(tmp_path: Path, compress: object) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(p.forest(), path, compress=compress)
    report = scan_path(path)
    assert report.status == "clean", report.to_json()
    assert "sklearn.ensemble._forest.RandomForestClassifier" in report.files[0].imports


def test_skops_file_is_clean(tmp_path: Path) -> None:
    import skops.io as sio

    path = tmp_path / "model.skops"
    sio.dump(p.forest(), path)
    report = scan_path(path)
    assert report.status == "clean", report.to_json()
    assert "skops" in report.files[0].formats


def test_skops_schema_with_untrusted_type_is_a_finding(tmp_path: Path) -> None:
    import skops.io as sio

    source = tmp_path / "model.skops"
    sio.dump(p.forest(), source)
    import zipfile

    forged = tmp_path / "forged.skops"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(forged, "w") as out:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "schema.json":
                data = data.replace(b'"sklearn.tree._tree"', b'"posix"', 1).replace(b'"Tree"', b'"system"', 1)
            out.writestr(item, data)
    report = scan_path(forged)
    assert report.status == "findings"
    assert any(f.kind == "skops_type" and f.global_name == "posix.system" for f in report.findings)


@pytest.mark.parametrize("name", ["model.model", "model", "weights.txt"])
def test_renamed_and_extensionless_files_are_scanned(tmp_path: Path, name: str) -> None:
    clean = p.write(tmp_path / "clean" / name, pickle.dumps(p.forest()))
    evil = p.write(tmp_path / "evil" / name, p.system_pickle())
    assert scan_path(clean).status == "clean"
    assert scan_path(clean).files[0].formats == ["pickle"]
    assert scan_path(evil).status == "findings"


def test_text_and_data_files_are_not_pickles(tmp_path: Path) -> None:
    directory = tmp_path / "model"
    p.write(directory / "notes.txt", b"hello world\n")
    p.write(directory / "input_example.json", b'{"columns": ["a"], "data": [[1.0]]}')
    p.write(directory / "array.npy", _plain_npy())
    # Text that starts like GLOBAL ('c') or INST ('i') opcodes but names no importable module.
    p.write(directory / "conda.yaml", b"channels:\n- conda-forge\ndependencies:\n- python=3.11\n")
    p.write(directory / "train.py", b"import os\nprint(os.getcwd())\n")
    report = scan_path(directory)
    assert report.status == "clean", report.to_json()
    formats = {item.path: item.formats for item in report.files}
    assert formats["conda.yaml"] == formats["train.py"] == formats["notes.txt"] == ["data"]
    assert formats["array.npy"] == ["npy"]


def _plain_npy() -> bytes:
    import io

    import numpy as np

    out = io.BytesIO()
    np.save(out, np.arange(10))
    return out.getvalue()


# -- the allow-list blocks what deny-lists miss ------------------------------------------------


def test_logging_getlogger_only_pickle_is_a_finding_though_picklescan_sees_nothing(tmp_path: Path) -> None:
    path = p.write(tmp_path / "model.pkl", p.logger_pickle())
    report = scan_path(path, second_opinion=True)
    assert report.status == "findings"
    assert [f.global_name for f in report.findings] == ["logging.getLogger"]
    assert report.second_opinion is not None and report.second_opinion["issues"] == 0
    code, output = _cli(path)
    assert code == 1 and "logging.getLogger" in output


MALICIOUS = {
    "sklearn-pickle-os-system": lambda: p.system_pickle(),
    "protocol-0-os-system": lambda: p.system_pickle(0),
    "memo-confusion-stack-global": lambda: p.memo_confusion("os", "system", "id"),
    "builtins-exec": lambda: p.call_global("builtins", "exec", "import os"),
    "python2-builtin-eval": lambda: p.call_global("__builtin__", "eval", "1"),
    "pkgutil-resolve-name": lambda: p.memo_confusion("pkgutil", "resolve_name", "os:system"),
    "runpy": lambda: p.call_global("runpy", "_run_code", "x"),
    "timeit": lambda: p.call_global("timeit", "timeit", "x"),
    "ensurepip": lambda: p.call_global("ensurepip", "_run_pip", "x"),
    "bdb-debugger": lambda: p.call_global("bdb", "Bdb", "x"),
    "marshal": lambda: p.call_global("marshal", "loads", "x"),
    "subprocess": lambda: p.call_global("subprocess", "Popen", "id"),
    "getattr-chain": lambda: p.call_global("builtins", "getattr", "x"),
    "pytorch-zip": lambda: p.torch_archive(p.system_pickle()),
    "pytorch-legacy": lambda: p.torch_legacy(p.system_pickle(2)),
    "nested-zip": lambda: p.nested_zip(p.system_pickle()),
    "npy-object": lambda: p.object_npy(p.SystemCall()),
    "npz-object": lambda: p.npz_with_object(p.SystemCall()),
    "keras-h5-lambda": lambda: p.keras_h5_lambda(),
    "keras-v3-lambda": lambda: p.keras_zip_lambda(),
    "gzip-wrapped": lambda: __import__("gzip").compress(p.system_pickle()),
}


@pytest.mark.parametrize("kind", sorted(MALICIOUS))
def test_malicious_kinds_are_findings(tmp_path: Path, kind: str) -> None:
    path = p.write(tmp_path / "artifact", MALICIOUS[kind]())
    report = scan_path(path)
    assert report.status == "findings", report.to_json()
    code, _ = _cli(path)
    assert code == 1


def test_joblib_object_array_payload_is_found(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    p.joblib_with_object(path, p.SystemCall())
    report = scan_path(path)
    assert report.status == "findings"
    assert any(f.global_name in ("posix.system", "os.system") for f in report.findings)


def test_cloudpickled_function_by_value_is_a_finding(tmp_path: Path) -> None:
    import cloudpickle

    path = p.write(tmp_path / "python_model.pkl", cloudpickle.dumps(lambda x: x + 1))
    report = scan_path(path)
    assert report.status == "findings"
    assert any((f.global_name or "").startswith("cloudpickle.") for f in report.findings)


# -- fail closed -------------------------------------------------------------------------------


def test_truncated_pickle_is_unscannable(tmp_path: Path) -> None:
    data = pickle.dumps(p.forest())
    path = p.write(tmp_path / "model.pkl", data[: len(data) // 2])
    report = scan_path(path)
    assert report.status == "unscannable"
    assert _cli(path)[0] == 2


def test_corrupt_zip_is_unscannable(tmp_path: Path) -> None:
    data = p.torch_archive(pickle.dumps(p.forest()))
    path = p.write(tmp_path / "model.pt", data[: len(data) - 40])
    assert scan_path(path).status == "unscannable"
    garbage = p.write(tmp_path / "junk.zip", b"PK\x03\x04" + b"\x00" * 50)
    assert scan_path(garbage).status == "unscannable"


def test_unresolvable_stack_global_and_extension_imports_are_unscannable(tmp_path: Path) -> None:
    for name, data in (("stack", p.unresolvable_stack_global()), ("ext", p.extension_import())):
        report = scan_path(p.write(tmp_path / name, data))
        assert report.status == "unscannable", report.to_json()
        assert report.errors[0].kind == "unresolvable"


def test_limits_make_scans_unscannable(tmp_path: Path) -> None:
    path = p.write(tmp_path / "bundle.zip", p.nested_zip(pickle.dumps([1, 2])))
    assert scan_path(path).status == "clean"
    assert scan_path(path, limits=Limits(max_depth=1)).status == "unscannable"
    assert scan_path(path, limits=Limits(max_total_bytes=10)).status == "unscannable"
    assert scan_path(path, limits=Limits(max_archive_entries=0)).status == "unscannable"
    timed_out = scan_path(path, limits=Limits(max_seconds=0.0))
    assert timed_out.status == "unscannable" and "seconds" in timed_out.errors[0].message


def test_cli_exit_codes_run_as_a_process(tmp_path: Path) -> None:
    clean = p.write(tmp_path / "clean.pkl", pickle.dumps({"a": 1}))
    done = subprocess.run(
        [sys.executable, "-m", "ledgerflow.cli", "scan", str(clean)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "second opinion: picklescan" in done.stdout


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_walker_never_raises_on_random_bytes(data: bytes) -> None:
    assert scan_bytes(data).status in STATUSES
    assert scan_bytes(b"\x80\x04" + data).status in STATUSES
    assert scan_bytes(b"PK\x03\x04" + data).status in STATUSES
    assert scan_bytes(b"\x93NUMPY" + data).status in STATUSES


def test_build_on_an_imported_class_is_a_finding(tmp_path: Path) -> None:
    # Rewire an allowed class: GLOBAL collections.OrderedDict, then BUILD (None, {"x": 1}).
    data = b"\x80\x02ccollections\nOrderedDict\nN}X\x01\x00\x00\x00xK\x01s\x86b."
    path = p.write(tmp_path / "rewire", data)
    report = scan_path(path)
    assert report.status == "findings"
    assert [f.kind for f in report.findings] == ["global_mutation"]
    from collections import OrderedDict

    from ledgerflow.governance.scanning.unpickler import UnsafeModel, restricted_load_path

    with pytest.raises(UnsafeModel, match="sets attributes on the imported OrderedDict"):
        restricted_load_path(path)
    assert not hasattr(OrderedDict, "x")


def test_wildcards_cover_top_level_names_only() -> None:
    from ledgerflow.governance.scanning.allowlist import default_allowlist

    rules = default_allowlist().with_globals(["cloudpickle.cloudpickle:*"])
    assert rules.allows("cloudpickle.cloudpickle", "_make_function")
    assert not rules.allows("cloudpickle.cloudpickle", "os.system")
    assert not rules.allows("cloudpickle.cloudpickle", "__builtins__")
    assert rules.version == default_allowlist().version + "+local." + rules.version.rsplit(".", 1)[1]


def test_an_edited_allowlist_is_a_new_version_even_when_its_version_field_is_not_bumped() -> None:
    from ledgerflow.governance.scanning.allowlist import from_document

    document = {"version": "2026.1.0", "globals": {"numpy": ["ndarray", "dtype"]}}
    reordered = {"version": "2026.1.0", "globals": {"numpy": ["dtype", "ndarray"]}}
    edited = {"version": "2026.1.0", "globals": {"numpy": ["ndarray", "dtype"], "os": ["system"]}}
    first = from_document(document).version
    assert first.startswith("2026.1.0+")
    assert from_document(reordered).version == first
    assert from_document(edited).version != first


def test_restricted_unpickler_refuses_attribute_walks_through_wildcards(tmp_path: Path) -> None:
    from ledgerflow.governance.scanning.unpickler import UnsafeModel, allowing, restricted_load_path

    path = p.write(
        tmp_path / "walk.pkl",
        p.PROTO4
        + p.text("cloudpickle.cloudpickle")
        + p.text("os.system")
        + p.STACK_GLOBAL
        + p.text("id")
        + p.TUPLE1
        + p.REDUCE
        + p.STOP,
    )
    with allowing(["cloudpickle.cloudpickle:*"]), pytest.raises(UnsafeModel, match="os.system"):
        restricted_load_path(path)


def test_opcodes_hidden_in_joblib_array_data_are_found(tmp_path: Path) -> None:
    """joblib's reader skips an array's bytes, a plain unpickler runs them as opcodes: the
    scanner reads the file both ways."""
    import numpy as np
    from joblib.numpy_pickle import NumpyArrayWrapper

    evil = b"cposix\nsystem\n(Vecho pwned\ntR0"
    wrapper = NumpyArrayWrapper(
        np.ndarray, (len(evil),), "C", np.dtype("u1"), allow_mmap=False, numpy_array_alignment_bytes=None
    )
    head = pickle.dumps(wrapper, protocol=2)
    assert head.endswith(b".")
    path = p.write(tmp_path / "model.joblib", head[:-1] + evil + b".")
    assert list(joblib.load(path)) == list(evil)  # joblib reads the bytes as array data
    report = scan_path(path)
    assert report.status == "findings"
    hidden = [f for f in report.findings if f.global_name == "posix.system"]
    assert hidden and "hidden in joblib array data" in hidden[0].message
    genuine = tmp_path / "genuine.joblib"
    joblib.dump({"weights": np.arange(1000, dtype=np.float64), "forest": p.forest()}, genuine)
    assert scan_path(genuine).status == "clean"


def test_encrypted_zip_entry_is_unscannable(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "locked.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.pkl", p.system_pickle())
    data = bytearray(path.read_bytes())
    # Set the "encrypted" flag bit on the local header and the central directory entry.
    for offset in (6, data.rfind(b"PK\x01\x02") + 8):
        data[offset] |= 0x01
    path.write_bytes(bytes(data))
    report = scan_path(path)
    assert report.status == "unscannable"
    assert report.errors[0].kind == "corrupt" and "encrypted" in report.errors[0].message
