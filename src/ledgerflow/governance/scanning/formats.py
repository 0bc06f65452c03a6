"""Formats recognised by content, never by file name, and how each is scanned.

* pickle (any protocol, several pickles in a row as PyTorch's legacy format writes them)
  and joblib files (a pickle with raw array bytes interleaved);
* zip archives: PyTorch archives (``data.pkl``), ``.npz``, Keras 3 ``.keras``, skops files
  (``schema.json``), nested zips; every entry is scanned by its content in turn;
* ``.npy`` arrays: an object dtype carries a pickle, which is scanned;
* HDF5 (Keras 2 ``.h5``): Lambda layers carry marshalled Python code in the
  ``model_config`` attribute; h5py is not needed, the attribute bytes are searched;
* gzip, bz2, xz/lzma and zlib streams (joblib's compressors): scanned after decompression;
* tar archives: every member.

Anything else is data. A container the scanner cannot read (corrupt zip, undecodable
compression, lz4 without the library) makes the scan unscannable.
"""

from __future__ import annotations

import ast
import bz2
import gzip
import io
import json
import lzma
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from ledgerflow.governance.scanning.context import ScanContext
from ledgerflow.governance.scanning.opcodes import Call, GlobalRef, Malformed, PickleWalker, Unresolvable
from ledgerflow.governance.scanning.report import GLOBAL, KERAS_LAMBDA, SKOPS_TYPE, ScanAborted, ScanReport

HEAD = 1024
_SPOOL_IN_MEMORY = 64 * 1024**2
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"
_KERAS_LAMBDA = re.compile(rb'"class_name"\s*:\s*"Lambda"')
_JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
_CHUNK = 1024 * 1024


def sniff(head: bytes) -> str:
    """The format the first bytes announce (``pickle`` for anything that may be one)."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"]\x00\x00"):
        return "lzma"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    if head.startswith(_LZ4_MAGIC):
        return "lz4"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    return "pickle"


@contextmanager
def _spooled() -> Iterator[IO[bytes]]:
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        yield spool  # type: ignore[misc]


def _copy_bounded(source: IO[bytes], target: IO[bytes], limit: int, ctx: ScanContext, what: str) -> None:
    copied = 0
    while True:
        block = source.read(_CHUNK)
        if not block:
            break
        copied += len(block)
        if copied > limit:
            raise ScanAborted(f"{what} expands to more than {limit} bytes")
        ctx.count_bytes(len(block))
        target.write(block)
    target.seek(0)


class Scanner:
    """Scans one stream of bytes (a file or an archive member), recursing into containers."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx

    def scan(self, stream: IO[bytes], path: str, depth: int, formats: list[str], imports: list[str]) -> None:
        self.ctx.check_time()
        if depth > self.ctx.limits.max_depth:
            raise ScanAborted(f"'{path}' is nested deeper than {self.ctx.limits.max_depth} levels")
        stream.seek(0)
        head = stream.read(HEAD)
        stream.seek(0)
        kind = sniff(head)
        if kind != "pickle":
            formats.append(kind)
        if kind == "zip":
            self._zip(stream, path, depth, formats, imports)
        elif kind == "npy":
            self._npy(stream, path, imports)
        elif kind == "hdf5":
            self._hdf5(stream, path)
        elif kind in ("gzip", "bz2", "xz", "lzma", "zlib"):
            self._compressed(kind, stream, path, depth, formats, imports)
        elif kind == "lz4":
            self.ctx.error(
                path, "unreadable", "an lz4 stream (joblib compression) cannot be decompressed here"
            )
        elif kind == "tar":
            self._tar(stream, path, depth, formats, imports)
        else:
            formats.append("pickle" if self._pickles(stream, path, imports) else "data")
            # A zip's directory sits at its end, so bytes can be a pickle and a zip at once.
            if zipfile.is_zipfile(stream):
                formats.append("zip")
                self._zip(stream, path, depth, formats, imports)

    # -- pickles ---------------------------------------------------------------------------

    def _pickles(self, stream: IO[bytes], path: str, imports: list[str]) -> bool:
        """Every pickle in a row from the start (PyTorch's legacy files hold several);
        whether the bytes held any pickle."""
        start, found = 0, False
        while True:
            stream.seek(start)
            errors = len(self.ctx.report.errors)
            ended = self.walk_pickle(stream, path, imports, assume_pickle=False)
            found = found or ended is not None or len(self.ctx.report.errors) > errors
            if ended is None or ended <= start:
                return found
            stream.seek(ended)
            if not stream.read(1):
                return found
            start = ended

    def walk_pickle(
        self, stream: IO[bytes], path: str, imports: list[str], *, assume_pickle: bool
    ) -> int | None:
        """Walk one pickle from the stream's position; the offset after its STOP, or None
        when the bytes are no pickle or could not be judged (then an error is recorded)."""
        start = stream.tell()
        arrays: list[int] = []

        def hook(obj: Call, source: IO[bytes]) -> None:
            if self._joblib_array(obj, source, path, imports):
                arrays.append(source.tell())

        walker = PickleWalker(stream, self.ctx, path, build_hook=hook, assume_pickle=assume_pickle)
        try:
            result = walker.walk()
        except Unresolvable as error:
            imports.extend(walker.result.imports)
            self.ctx.error(path, "unresolvable", f"unresolvable import: {error}")
            return None
        except Malformed as error:
            imports.extend(walker.result.imports)
            self.ctx.error(path, "corrupt", f"corrupt or truncated pickle: {error}")
            return None
        imports.extend(result.imports)
        if arrays:
            end = stream.tell()
            stream.seek(start)
            self._plain_reading(stream, path)
            stream.seek(end)
        return result.end if result.complete else None

    def _plain_reading(self, stream: IO[bytes], path: str) -> None:
        """Walk a joblib pickle again as ``pickle.load`` would read it, without skipping the
        array bytes: opcodes hidden where joblib expects raw data would run under a plain
        unpickler (stock MLflow's cloudpickle.load). Decoding errors are expected here (the
        array bytes are no opcodes); imports that the joblib reading did not see are findings."""
        seen = {f.global_name for f in self.ctx.report.findings if f.path == path}
        shadow = ScanContext(self.ctx.allowlist, self.ctx.limits, ScanReport("", ""), self.ctx.started)
        walker = PickleWalker(stream, shadow, path, assume_pickle=True)
        try:
            walker.walk()
        except Unresolvable as error:
            self.ctx.error(path, "unresolvable", f"unresolvable import read by a plain unpickler: {error}")
        except Malformed:
            pass
        for finding in shadow.report.findings:
            if finding.global_name not in seen:
                seen.add(finding.global_name)
                self.ctx.finding(
                    path,
                    finding.kind,
                    f"{finding.message} (hidden in joblib array data: a plain unpickler runs it)",
                    global_name=finding.global_name,
                    position=finding.position,
                )

    def _joblib_array(self, obj: Call, stream: IO[bytes], path: str, imports: list[str]) -> bool:
        """Consume the array data joblib wrote after a NumpyArrayWrapper; whether it was one."""
        func = obj.func
        if not (isinstance(func, GlobalRef) and (func.module, func.name) == _JOBLIB_WRAPPER):
            return False
        state = obj.state
        if not isinstance(state, dict):
            raise Malformed("a joblib array wrapper without its state")
        shape, dtype = state.get("shape"), state.get("dtype")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise Malformed("a joblib array wrapper whose shape is not a tuple of sizes")
        itemsize, has_object = _dtype_size(dtype)
        if has_object:
            # An object array is a whole pickle of its own, right here in the stream.
            if self.walk_pickle(stream, path, imports, assume_pickle=True) is None:
                raise Malformed("the nested pickle of a joblib object array could not be read")
            return True
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = stream.read(1)
            if len(padding) != 1:
                raise Malformed("a joblib array ends before its padding")
            _skip(stream, padding[0])
        count = 1
        for size in shape:
            count *= size
        _skip(stream, count * itemsize)
        return True

    # -- containers ------------------------------------------------------------------------

    def _zip(self, stream: IO[bytes], path: str, depth: int, formats: list[str], imports: list[str]) -> None:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, ValueError, OSError) as error:
            self.ctx.error(path, "corrupt", f"corrupt zip archive: {error}")
            return
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > self.ctx.limits.max_archive_entries:
                raise ScanAborted(f"'{path}' holds more than {self.ctx.limits.max_archive_entries} entries")
            names = {m.filename for m in members}
            if "schema.json" in names:
                formats.append("skops")
            for member in members:
                inner = f"{path}!{member.filename}"
                limit = max(member.compress_size, 1) * self.ctx.limits.max_expand_ratio + _CHUNK
                try:
                    with archive.open(member) as source, _spooled() as spool:
                        _copy_bounded(source, spool, limit, self.ctx, inner)
                        if member.filename == "schema.json" and "skops" in formats:
                            self._skops_schema(spool, inner)
                            spool.seek(0)
                        if member.filename.endswith("config.json"):
                            self._keras_json(spool, inner)
                            spool.seek(0)
                        self.scan(spool, inner, depth + 1, formats, imports)
                except (
                    zipfile.BadZipFile,
                    zlib.error,
                    EOFError,
                    OSError,
                    NotImplementedError,
                    RuntimeError,
                ) as error:
                    self.ctx.error(inner, "corrupt", f"unreadable zip entry: {error}")

    def _tar(self, stream: IO[bytes], path: str, depth: int, formats: list[str], imports: list[str]) -> None:
        try:
            archive = tarfile.open(fileobj=stream)  # noqa: SIM115 - closed below
        except tarfile.TarError as error:
            self.ctx.error(path, "corrupt", f"corrupt tar archive: {error}")
            return
        with archive:
            count = 0
            try:
                for member in archive:
                    if not member.isfile():
                        continue
                    count += 1
                    if count > self.ctx.limits.max_archive_entries:
                        raise ScanAborted(f"'{path}' holds too many entries")
                    inner = f"{path}!{member.name}"
                    source = archive.extractfile(member)
                    if source is None:
                        continue
                    with source, _spooled() as spool:
                        _copy_bounded(source, spool, member.size + 1, self.ctx, inner)
                        self.scan(spool, inner, depth + 1, formats, imports)
            except (tarfile.TarError, EOFError, OSError) as error:
                self.ctx.error(path, "corrupt", f"corrupt tar archive: {error}")

    def _compressed(
        self, kind: str, stream: IO[bytes], path: str, depth: int, formats: list[str], imports: list[str]
    ) -> None:
        stream.seek(0, io.SEEK_END)
        limit = max(stream.tell(), 1) * self.ctx.limits.max_expand_ratio + _CHUNK
        stream.seek(0)
        source: Any
        if kind == "gzip":
            source = gzip.GzipFile(fileobj=stream)
        elif kind == "bz2":
            source = bz2.BZ2File(stream)
        elif kind in ("xz", "lzma"):
            source = lzma.LZMAFile(  # noqa: SIM115 - closed by the with below
                stream, format=lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE
            )
        else:
            source = _ZlibReader(stream)
        try:
            with source, _spooled() as spool:
                _copy_bounded(source, spool, limit, self.ctx, path)
                self.scan(spool, f"{path}!{kind}", depth + 1, formats, imports)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
            self.ctx.error(path, "corrupt", f"corrupt {kind} stream: {error}")

    # -- arrays, Keras, skops --------------------------------------------------------------

    def _npy(self, stream: IO[bytes], path: str, imports: list[str]) -> None:
        header = _npy_header(stream)
        if header is None:
            self.ctx.error(path, "corrupt", "a .npy file whose header cannot be read")
            return
        if "O" in str(header.get("descr")):
            # Object arrays are stored as a pickle right after the header.
            self.walk_pickle(stream, path, imports, assume_pickle=True)

    def _hdf5(self, stream: IO[bytes], path: str) -> None:
        tail = b""
        while True:
            block = stream.read(_CHUNK)
            if not block:
                return
            window = tail + block
            if _KERAS_LAMBDA.search(window):
                self.ctx.finding(
                    path, KERAS_LAMBDA, "a Keras Lambda layer: its config holds Python code run on load"
                )
                return
            tail = window[-256:]

    def _keras_json(self, stream: IO[bytes], path: str) -> None:
        if _KERAS_LAMBDA.search(stream.read()):
            self.ctx.finding(
                path, KERAS_LAMBDA, "a Keras Lambda layer: its config holds Python code run on load"
            )

    def _skops_schema(self, stream: IO[bytes], path: str) -> None:
        try:
            schema = json.loads(stream.read())
        except (ValueError, UnicodeDecodeError) as error:
            self.ctx.error(path, "corrupt", f"unreadable skops schema: {error}")
            return
        seen: set[tuple[str, str]] = set()
        for module, name, method in _skops_types(schema):
            if (module, name) not in seen and not self.ctx.allowlist.allows(module, name):
                seen.add((module, name))
                self.ctx.finding(
                    path,
                    SKOPS_TYPE,
                    f"the skops schema loads {module}.{name}, which is not on the allow-list",
                    global_name=f"{module}.{name}",
                )
            if method is not None:
                self.ctx.finding(
                    path,
                    GLOBAL,
                    f"the skops schema calls method {module}.{name}.{method} by name",
                    global_name=f"{module}.{name}.{method}",
                )


def _skops_types(node: Any) -> Iterator[tuple[str, str, str | None]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, name = item.get("__module__"), item.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                method = None
                content = item.get("content")
                if item.get("__loader__") == "MethodNode" and isinstance(content, dict):
                    method = str(content.get("func"))
                yield module, name, method
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _npy_header(stream: IO[bytes]) -> dict[str, Any] | None:
    prefix = stream.read(8)
    if len(prefix) != 8:
        return None
    major = prefix[6]
    size_bytes = 2 if major == 1 else 4
    raw = stream.read(size_bytes)
    if len(raw) != size_bytes:
        return None
    header = stream.read(int.from_bytes(raw, "little"))
    try:
        value = ast.literal_eval(header.decode("latin1" if major < 3 else "utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _dtype_size(dtype: Any) -> tuple[int, bool]:
    """(itemsize, holds objects) of a dtype as pickled: ``numpy.dtype(descr, align, copy)``
    with BUILD state ``(version, endian, subarray, names, fields, elsize, alignment, flags)``."""
    if not isinstance(dtype, Call) or not isinstance(dtype.func, GlobalRef) or dtype.func.name != "dtype":
        raise Malformed("a joblib array wrapper whose dtype is not numpy.dtype(...)")
    args = dtype.args if isinstance(dtype.args, tuple) else ()
    descr = args[0] if args else None
    state = dtype.state if isinstance(dtype.state, tuple) else ()
    flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
    elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
    if not isinstance(descr, str):
        raise Malformed("a joblib array wrapper whose dtype has no type code")
    has_object = descr.startswith("O") or bool(flags & 0x01)
    if has_object:
        return 8, True
    if elsize > 0:
        return elsize, False
    match = re.fullmatch(r"([biufcmMSUV?])(\d*)(?:\[\w+\])?", descr)
    if match is None:
        raise Malformed(f"a joblib array of an unknown dtype {descr!r}")
    kind, digits = match.group(1), match.group(2)
    if kind == "?":
        return 1, False
    size = int(digits) if digits else 0
    return (size * 4 if kind == "U" else size), False


def _skip(stream: IO[bytes], count: int) -> None:
    position = stream.tell()
    stream.seek(0, io.SEEK_END)
    end = stream.tell()
    if position + count > end:
        raise Malformed("the file ends inside a joblib array")
    stream.seek(position + count)


class _ZlibReader(io.RawIOBase):
    """A readable stream over a raw zlib stream (joblib's default compressor)."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.inflater = zlib.decompressobj()
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            block = self.source.read(_CHUNK)
            if not block:
                self.pending = self.inflater.flush()
                if not self.pending:
                    if not self.inflater.eof:
                        raise zlib.error("truncated zlib stream")
                    return 0
                break
            self.pending = self.inflater.decompress(block)
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def copy_file(source: IO[bytes], target: IO[bytes]) -> None:
    shutil.copyfileobj(source, target, _CHUNK)
