"""Following one file's bytes as they stream past (an upload, or a stored file read back),
to judge it once they are complete.

Most artifacts are data no loader executes anything from: images, text, JSON, CSV,
parquet. They are told apart by their first bytes (never their name), kept at most
:data:`SNIFF_BYTES` plus a short tail, and recorded as ``data`` without a scan, so
uploading and downloading them costs next to nothing. Anything that may be a pickle, an
archive, an array, HDF5 or a compressed stream is spooled as it passes and scanned in full
before the upload becomes visible.

The first :data:`SNIFF_BYTES` decide, the same way wherever the bytes come from:

* a container or array magic (zip, npy, HDF5, tar, lz4) is a model file;
* a compression magic (gzip, bz2, xz, lzma, zlib) is one when those bytes decompress: text
  that merely starts like a zlib header (``x ...``) cannot carry a pickle to any loader;
* otherwise the static pickle walker decides, as ``pickle.load`` would: only an import gives
  a loader something to call, so pickles (one or several in a row) that import something are
  a model file, and bytes whose walk stops before any import (a decoding error, an extension
  code, the end of an import-free pickle with nothing after it) are data: a loader fails or
  returns plain values there. Bytes still decoding at the end of the window are a model file
  (undecided means scanned), so an import cannot hide behind a long import-free prefix.

A zip's directory sits at its end, so a data head with a zip end record in the last 64 KiB
may still be opened as an archive (``zipfile``, Keras, skops): such a file is recorded
``unscanned`` and scanned in full when first downloaded.
"""

from __future__ import annotations

import bz2
import io
import lzma
import pickletools
import tempfile
import zlib
from typing import IO

from ledgerflow.governance.scanning.allowlist import AllowList
from ledgerflow.governance.scanning.context import ScanContext
from ledgerflow.governance.scanning.formats import sniff
from ledgerflow.governance.scanning.mlmodel_checks import MLMODEL_FILE
from ledgerflow.governance.scanning.opcodes import Malformed, PickleWalker, Unresolvable
from ledgerflow.governance.scanning.report import Limits, ScanAborted, ScanReport

SNIFF_BYTES = 64 * 1024
# The end-of-central-directory record (22 bytes) plus the longest archive comment.
ZIP_TAIL_BYTES = 22 + 65_535
_EOCD = b"PK\x05\x06"
_SPOOL_IN_MEMORY = 16 * 1024**2
_COMPRESSED = ("gzip", "bz2", "xz", "lzma", "zlib")
# An allow-list that allows nothing: the walk here only asks "is this a pickle?".
_NOTHING = AllowList("probe", {})

MODEL = "model"
DATA = "data"


def _decompresses(kind: str, head: bytes) -> bool:
    try:
        if kind == "gzip":
            zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head)
        elif kind == "zlib":
            zlib.decompressobj().decompress(head)
        elif kind == "bz2":
            bz2.BZ2Decompressor().decompress(head)
        else:
            lzma.LZMADecompressor(lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE).decompress(head)
    except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, MemoryError):
        return False
    return True


_CODE2OP = {op.code: op for op in pickletools.opcodes}
_LENGTH_WIDTHS = {
    pickletools.TAKEN_FROM_ARGUMENT1: 1,
    pickletools.TAKEN_FROM_ARGUMENT4: 4,
    pickletools.TAKEN_FROM_ARGUMENT4U: 4,
    pickletools.TAKEN_FROM_ARGUMENT8U: 8,
}


def _runs_past_the_file(head: bytes, start: int, size: int | None) -> bool:
    """Whether the walk from ``start`` stopped at the window's end on an opcode whose length
    prefix claims more bytes than the whole file has: the loader fails right there. (Random
    binary data often starts with such an opcode; a real pickle's constants fit its file.)"""
    if size is None:
        return False
    stream = io.BytesIO(head)
    stream.seek(start)
    at = start
    try:
        for _opcode, _arg, _pos in pickletools.genops(stream):
            at = stream.tell()
    except ValueError:
        pass
    if at >= len(head):
        return False
    op = _CODE2OP.get(chr(head[at]))
    width = _LENGTH_WIDTHS.get(op.arg.n) if op is not None and op.arg is not None else None
    if width is None or len(head) < at + 1 + width:
        return False
    signed = op is not None and op.arg is not None and op.arg.n == pickletools.TAKEN_FROM_ARGUMENT4
    length = int.from_bytes(head[at + 1 : at + 1 + width], "little", signed=signed)
    return length < 0 or at + 1 + width + length > size


def _pickle_like(head: bytes, whole: bool, size: int | None) -> bool:
    """Whether the pickles in a row at the start of ``head`` import anything (only an import
    gives a loader something to call), or still decode at the end of the window."""
    stream = io.BytesIO(head)
    ctx = ScanContext(_NOTHING, Limits(), ScanReport("", ""))
    start = 0

    def undecided() -> bool:
        return not whole and stream.tell() >= len(head) and not _runs_past_the_file(head, start, size)

    while True:
        stream.seek(start)
        walker = PickleWalker(stream, ctx, "probe", assume_pickle=False)
        try:
            result = walker.walk()
        except (Unresolvable, Malformed, ScanAborted, RecursionError):
            # The loader stops where the walk stopped: it ran only what came before.
            return bool(walker.result.imports) or undecided()
        if result.imports:
            return True
        if not result.complete or result.end <= start:
            return undecided()
        if result.end >= len(head):
            return not whole  # import-free pickles up to the window's end: undecided
        start = result.end  # an import-free pickle runs nothing; look at what follows


def may_execute(head: bytes, *, whole: bool, size: int | None = None) -> bool:
    """Whether a file starting with ``head`` (its first :data:`SNIFF_BYTES`, or all of it when
    ``whole``) may be something a model loader runs code from; ``size`` is the whole file's
    size when known (a length prefix that claims more than the file is a loader failure)."""
    head = head[:SNIFF_BYTES]
    if not head:
        return False
    kind = sniff(head)
    if kind in _COMPRESSED:
        return _decompresses(kind, head)
    if kind != "pickle":
        return True
    return _pickle_like(head, whole, size)


def is_model_name(name: str) -> bool:
    """Files judged as model files whatever their bytes (their metadata is checked)."""
    return name.rpartition("/")[2] == MLMODEL_FILE


class FileProbe:
    """The bytes of one file as they pass: the head until the kind is known, then a spool
    (model files) or a short tail (data)."""

    def __init__(self, name: str, *, spool_all: bool = False, size_hint: int | None = None) -> None:
        self.name = name
        self.spool_all = spool_all
        # The size the upload declared (Content-Length), which the head's verdict may rely on.
        self.size_hint = size_hint
        self.written = 0
        self.head = bytearray()
        self.tail = b""
        self.spool: IO[bytes] | None = None
        self.kind: str | None = None
        self.whole = False

    def write(self, data: bytes) -> None:
        self.written += len(data)
        if self.kind is None:
            self.head += data
            if len(self.head) > SNIFF_BYTES:
                self._decide(whole=False)
        elif self.spool is not None:
            self.spool.write(data)
        else:
            self._keep_tail(data)

    def _keep_tail(self, data: bytes) -> None:
        if len(data) >= ZIP_TAIL_BYTES:
            self.tail = data[-ZIP_TAIL_BYTES:]
        else:
            self.tail = (self.tail + data)[-ZIP_TAIL_BYTES:]

    def _decide(self, *, whole: bool) -> None:
        head = bytes(self.head)
        self.whole = whole
        size = self.written if whole else self.size_hint
        model = self.spool_all or is_model_name(self.name) or may_execute(head, whole=whole, size=size)
        self.kind = MODEL if model else DATA
        if whole:
            return  # the head is the whole file
        if model:
            self.spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
            self.spool.write(head)
        else:
            self._keep_tail(head)
        self.head = bytearray()

    def finish(self) -> tuple[str, IO[bytes] | None]:
        """(kind, the whole content to scan) once every byte was written; the content is
        None for data, and for a data head with a zip end record in its tail (``unscanned``)."""
        if self.kind is None:
            self._decide(whole=True)
        if self.whole:
            content = bytes(self.head)
            if self.kind == DATA and _EOCD in content[-ZIP_TAIL_BYTES:]:
                self.kind = MODEL  # all of it is here: scan it now
            return (self.kind or DATA), (io.BytesIO(content) if self.kind == MODEL else None)
        if self.spool is not None:
            self.spool.seek(0)
            return MODEL, self.spool
        return DATA, None

    @property
    def unsure(self) -> bool:
        """A data verdict that needs the whole file: a zip end record in its last bytes (it may
        open as an archive), or a declared size the bytes did not match."""
        if self.kind != DATA or self.whole:
            return False
        return _EOCD in self.tail or (self.size_hint is not None and self.size_hint != self.written)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None
