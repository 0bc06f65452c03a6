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
* otherwise the static pickle walker decides, as ``pickle.load`` would: bytes that import
  something, declare a protocol or hold a whole pickle are a model file, and bytes that fail
  to decode before any import are data. Bytes still decoding at the end of the window are a
  model file (undecided means scanned).

A zip's directory sits at its end, so a data head with a zip end record in the last 64 KiB
may still be opened as an archive (``zipfile``, Keras, skops): such a file is recorded
``unscanned`` and scanned in full when first downloaded.
"""

from __future__ import annotations

import bz2
import io
import lzma
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


def _pickle_like(head: bytes, whole: bool) -> bool:
    stream = io.BytesIO(head)
    ctx = ScanContext(_NOTHING, Limits(), ScanReport("", ""))
    walker = PickleWalker(stream, ctx, "probe", assume_pickle=False)
    try:
        result = walker.walk()
    except (Unresolvable, Malformed, ScanAborted, RecursionError):
        return True  # raised only once the bytes are known to be a pickle
    if result.is_pickle or result.complete:
        return True
    return not whole and stream.tell() >= len(head)


def may_execute(head: bytes, *, whole: bool) -> bool:
    """Whether a file starting with ``head`` (its first :data:`SNIFF_BYTES`, or all of it when
    ``whole``) may be something a model loader runs code from."""
    head = head[:SNIFF_BYTES]
    if not head:
        return False
    kind = sniff(head)
    if kind in _COMPRESSED:
        return _decompresses(kind, head)
    if kind != "pickle":
        return True
    return _pickle_like(head, whole)


def is_model_name(name: str) -> bool:
    """Files judged as model files whatever their bytes (their metadata is checked)."""
    return name.rpartition("/")[2] == MLMODEL_FILE


class FileProbe:
    """The bytes of one file as they pass: the head until the kind is known, then a spool
    (model files) or a short tail (data)."""

    def __init__(self, name: str, *, spool_all: bool = False) -> None:
        self.name = name
        self.spool_all = spool_all
        self.head = bytearray()
        self.tail = b""
        self.spool: IO[bytes] | None = None
        self.kind: str | None = None
        self.whole = False

    def write(self, data: bytes) -> None:
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
        model = self.spool_all or is_model_name(self.name) or may_execute(head, whole=whole)
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
    def zip_tail(self) -> bool:
        """A data file whose last bytes hold a zip end record (it may open as an archive)."""
        return self.kind == DATA and not self.whole and _EOCD in self.tail

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None
