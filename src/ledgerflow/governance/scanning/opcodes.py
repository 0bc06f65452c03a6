"""A static pickle walker: decodes opcodes with :func:`pickletools.genops` and runs a
symbolic copy of the unpickler's stack machine, without importing or calling anything.

The machine tracks the stack, the mark stack and the memo (PUT, BINPUT, LONG_BINPUT,
MEMOIZE, GET, BINGET, LONG_BINGET) with string and number constants kept as values, so the
operands of ``STACK_GLOBAL`` are known even when they were memoized earlier or arrive
through ``GET``. Every import (GLOBAL, STACK_GLOBAL, INST) is compared with the allow-list.
An import whose operands are not constant strings, and an extension-registry import (EXT1/2/4),
cannot be resolved statically: the pickle is unscannable.

Whether bytes are a pickle at all is judged by what ``pickle.load`` would do with them: a
stream that imports something (or declares a protocol with ``\\x80``) is a pickle, and a
decoding error after that point is a corrupt pickle (unscannable, since the loader would
already have run whatever came before). A prefix that decodes but imports nothing cannot
execute anything, so bytes that fail to decode before any import are plain data.

Joblib's format interleaves raw array bytes with the pickle stream after each
``NumpyArrayWrapper``: the walker reads the wrapper's shape and dtype from its BUILD state
and skips exactly those bytes (or walks the nested pickle of an object array).
"""

from __future__ import annotations

import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from ledgerflow.governance.scanning.context import ScanContext
from ledgerflow.governance.scanning.report import GLOBAL, GLOBAL_MUTATION, INDIRECT_CALL

# Bytes constants longer than this are kept as their size only (array payloads).
_KEEP_BYTES = 64
_TIME_CHECK_EVERY = 4096
# Opcodes whose effect only pushes a constant (argument decoded by genops).
_CONSTANTS = frozenset(
    [
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
        "UNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "FLOAT",
        "BINFLOAT",
    ]
)


@dataclass(frozen=True)
class GlobalRef:
    module: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Blob:
    """A large bytes constant, kept as its length."""

    size: int


@dataclass
class Call:
    """The result of calling ``func`` (REDUCE, NEWOBJ, OBJ, INST); BUILD sets ``state``."""

    func: Any
    args: Any
    state: Any = None


@dataclass
class Opaque:
    """A value the walker does not model (persistent ids, out-of-band buffers)."""

    what: str


class Unresolvable(Exception):
    """An import whose target is not a constant: the pickle cannot be judged statically."""


class Malformed(Exception):
    """The opcode stream is not something the unpickler could run (stack underflow, ...)."""


class _Mark:
    pass


@dataclass
class WalkResult:
    is_pickle: bool = False
    complete: bool = False
    imports: list[str] = field(default_factory=list)
    end: int = 0


# Called after BUILD with the built object; may consume bytes that follow in the stream.
BuildHook = Callable[[Call, IO[bytes]], None]


class PickleWalker:
    def __init__(
        self,
        stream: IO[bytes],
        ctx: ScanContext,
        path: str,
        *,
        build_hook: BuildHook | None = None,
        assume_pickle: bool = False,
    ) -> None:
        self.stream = stream
        self.ctx = ctx
        self.path = path
        self.build_hook = build_hook
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.result = WalkResult(is_pickle=assume_pickle)

    # -- the stack machine ------------------------------------------------------------------

    def _pop(self) -> Any:
        if not self.stack:
            raise Malformed("stack underflow")
        return self.stack.pop()

    def _top(self) -> Any:
        if not self.stack:
            raise Malformed("stack underflow")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise Malformed("no MARK for an opcode that needs one")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _import(self, module: Any, name: Any, pos: int) -> GlobalRef:
        if not isinstance(module, str) or not isinstance(name, str):
            self.result.is_pickle = True
            raise Unresolvable(f"an import at byte {pos} whose module or name is not a constant string")
        if not _dotted(module) or not _dotted(name):
            # No module can be imported under such a name, so nothing runs: text that
            # happens to start like GLOBAL ('c') or INST ('i') is not a pickle.
            raise Malformed(f"an import of {module!r} {name!r}, which no module can be")
        self.result.is_pickle = True
        ref = GlobalRef(module, name)
        self.result.imports.append(ref.dotted)
        if not self.ctx.allowlist.allows(module, name):
            self.ctx.finding(
                self.path,
                GLOBAL,
                f"imports {ref.dotted}, which is not on the allow-list",
                global_name=ref.dotted,
                position=pos,
            )
        return ref

    def _call(self, func: Any, args: Any, pos: int) -> Call:
        if not isinstance(func, GlobalRef):
            self.ctx.finding(
                self.path,
                INDIRECT_CALL,
                f"calls a value that is not an imported global ({type(func).__name__}) at byte {pos}",
                position=pos,
            )
        return Call(func, args)

    def _step(self, name: str, arg: Any, pos: int) -> None:
        stack = self.stack
        if name in _CONSTANTS:
            if isinstance(arg, bytes | bytearray) and len(arg) > _KEEP_BYTES:
                arg = Blob(len(arg))
            stack.append(arg)
        elif name == "NONE":
            stack.append(None)
        elif name == "NEWTRUE":
            stack.append(True)
        elif name == "NEWFALSE":
            stack.append(False)
        elif name in ("EMPTY_LIST", "EMPTY_SET"):
            stack.append([])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name == "EMPTY_DICT":
            stack.append({})
        elif name == "MARK":
            self.metastack.append(stack)
            self.stack = []
        elif name in ("LIST", "FROZENSET"):
            items = self._pop_mark()
            self.stack.append(list(items))
        elif name == "TUPLE":
            items = self._pop_mark()
            self.stack.append(tuple(items))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            count = int(name[-1])
            if len(stack) < count:
                raise Malformed("stack underflow")
            packed = tuple(stack[-count:])
            del stack[-count:]
            stack.append(packed)
        elif name == "DICT":
            items = self._pop_mark()
            self.stack.append(_pairs(items))
        elif name == "APPEND":
            value = self._pop()
            _extend(self._top(), [value])
        elif name in ("APPENDS", "ADDITEMS"):
            items = self._pop_mark()
            _extend(self._top(), items)
        elif name == "SETITEM":
            value, key = self._pop(), self._pop()
            _set_items(self._top(), [key, value])
        elif name == "SETITEMS":
            items = self._pop_mark()
            _set_items(self._top(), items)
        elif name == "POP":
            if stack:
                stack.pop()
            else:
                self._pop_mark()
        elif name == "POP_MARK":
            self._pop_mark()
        elif name == "DUP":
            stack.append(self._top())
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            if not isinstance(arg, int) or arg < 0:
                raise Malformed("negative memo index")
            self.memo[arg] = self._top()
        elif name == "MEMOIZE":
            self.memo[len(self.memo)] = self._top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise Malformed(f"memo key {arg} read before it was written")
            stack.append(self.memo[arg])
        elif name == "GLOBAL":
            module, _, qualname = str(arg).partition(" ")
            stack.append(self._import(module, qualname, pos))
        elif name == "STACK_GLOBAL":
            qualname, module = self._pop(), self._pop()
            stack = self.stack
            stack.append(self._import(module, qualname, pos))
        elif name == "INST":
            module, _, qualname = str(arg).partition(" ")
            ref = self._import(module, qualname, pos)
            items = self._pop_mark()
            self.stack.append(Call(ref, tuple(items)))
        elif name == "OBJ":
            items = self._pop_mark()
            if not items:
                raise Malformed("OBJ without a class")
            self.stack.append(self._call(items[0], tuple(items[1:]), pos))
        elif name in ("EXT1", "EXT2", "EXT4"):
            self.result.is_pickle = True
            raise Unresolvable(f"an extension-registry import (code {arg}) at byte {pos}")
        elif name == "REDUCE":
            args, func = self._pop(), self._pop()
            self.stack.append(self._call(func, args, pos))
        elif name == "NEWOBJ":
            args, cls = self._pop(), self._pop()
            self.stack.append(self._call(cls, args, pos))
        elif name == "NEWOBJ_EX":
            kwargs, args, cls = self._pop(), self._pop(), self._pop()
            self.stack.append(self._call(cls, (args, kwargs), pos))
        elif name == "BUILD":
            state = self._pop()
            target = self._top()
            if isinstance(target, GlobalRef):
                # BUILD on an imported class or function sets attributes on it (setattr for
                # slot state): a way to rewire allowed code, never needed by a real model.
                self.ctx.finding(
                    self.path,
                    GLOBAL_MUTATION,
                    f"sets attributes on the imported {target.dotted} (BUILD on a global) at byte {pos}",
                    global_name=target.dotted,
                    position=pos,
                )
            if isinstance(target, Call):
                target.state = state
                if self.build_hook is not None:
                    self.build_hook(target, self.stream)
        elif name == "PERSID":
            stack.append(Opaque(f"persistent id {arg!r}"))
        elif name == "BINPERSID":
            stack.append(Opaque(f"persistent id {self._pop()!r}"))
        elif name in ("NEXT_BUFFER", "READONLY_BUFFER"):
            if name == "NEXT_BUFFER":
                stack.append(Opaque("out-of-band buffer"))
        elif name in ("PROTO", "FRAME"):
            self.result.is_pickle = self.result.is_pickle or name == "PROTO"
        else:  # pragma: no cover - every opcode of pickletools is handled above
            raise Malformed(f"unexpected opcode {name}")

    # -- the walk ---------------------------------------------------------------------------

    def walk(self) -> WalkResult:
        """Walk to STOP. Raises Unresolvable or Malformed for a pickle that cannot be judged;
        returns ``complete=False`` with ``is_pickle=False`` for bytes that are no pickle."""
        count = 0
        try:
            for opcode, arg, pos in pickletools.genops(self.stream):
                name = opcode.name
                if name == "STOP":
                    self.result.complete = True
                    self.result.end = self.stream.tell() if hasattr(self.stream, "tell") else 0
                    return self.result
                try:
                    self._step(name, arg, pos or 0)
                except Malformed:
                    if self.result.is_pickle:
                        raise
                    return self.result
                count += 1
                if count % _TIME_CHECK_EVERY == 0:
                    self.ctx.check_time()
        except ValueError as error:
            # genops: unknown opcode, truncated argument, bad text literal.
            if self.result.is_pickle:
                raise Malformed(str(error)) from None
            return self.result
        if self.result.is_pickle:
            raise Malformed("the stream ends without a STOP opcode")
        return self.result


def _dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


def _pairs(items: list[Any]) -> dict[Any, Any]:
    if len(items) % 2:
        raise Malformed("odd number of items for a dict")
    target: dict[Any, Any] = {}
    _set_items(target, items)
    return target


def _set_items(target: Any, items: list[Any]) -> Any:
    if len(items) % 2:
        raise Malformed("odd number of items for SETITEMS")
    if isinstance(target, dict):
        for index in range(0, len(items), 2):
            key = items[index]
            try:
                target[key] = items[index + 1]
            except TypeError:
                # An unhashable symbolic key (a call result): the value is not needed.
                continue
    return target


def _extend(target: Any, items: list[Any]) -> None:
    if isinstance(target, list):
        target.extend(items)
