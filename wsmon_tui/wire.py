"""The wire codec: the model's frozen records to JSON-able values and back, exactly.

An attached face (``wsmon_tui.attach``) receives Snapshots and command results over a
socket as JSON. ``to_wire`` turns a frozen dataclass (Snapshot, AlertView, RuleInfo,
RangeRequest, ...) into dicts, lists and scalars; ``from_wire(cls, data)`` rebuilds it,
guided by the dataclass's own type hints: a ``tuple[X, ...]`` field comes back a tuple of
``X``, a ``Mapping`` a read-only mapping, ``X | None`` None or an ``X``. So
``from_wire(Snapshot, to_wire(s)) == s`` for every Snapshot (``tests/test_wire.py``).

Floats: ``dumps`` writes non-finite floats as JSON's common extension (``NaN``,
``Infinity``, ``-Infinity``), which ``loads`` reads back; both ends are this package.
Values typed ``object`` or ``Any`` (a rollback step's details) carry JSON's own types:
a tuple there comes back a list.

A leaf: it imports nothing of the package but the model's names it is given.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

T = TypeVar("T")

Decoder = Callable[[Any], Any]

_FIELDS: dict[type, tuple[str, ...]] = {}
_DECODERS: dict[Any, Decoder] = {}


def to_wire(obj: Any) -> Any:
    """``obj`` as JSON-able values: dataclasses and Mappings become dicts, tuples lists."""
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj  # a StrEnum is a str: it goes as its value
    cls = type(obj)
    names = _FIELDS.get(cls)
    if names is None and dataclasses.is_dataclass(obj):
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        return {name: to_wire(getattr(obj, name)) for name in names}
    if isinstance(obj, Mapping):
        return {str(k): to_wire(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list | set | frozenset):
        return [to_wire(v) for v in obj]
    raise TypeError(f"cannot put a {cls.__name__} on the wire")


def from_wire(tp: type[T], data: Any) -> T:
    """Rebuild a ``tp`` (a dataclass, or any type hint this codec knows) from ``to_wire``'s output."""
    return typing.cast(T, decoder(tp)(data))


def decoder(tp: Any) -> Decoder:
    """The (cached) function that rebuilds values of type hint ``tp``."""
    found = _DECODERS.get(tp)
    if found is None:
        found = _DECODERS[tp] = _make(tp)
    return found


def _identity(value: Any) -> Any:
    return value


def _make(tp: Any) -> Decoder:
    if tp is Any or tp is object or tp in (str, int, bool):
        return _identity
    if tp is float:
        return _as_float
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_decoder(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [decoder(a) for a in args if a is not type(None)]
        if len(inner) == 1:
            one = inner[0]
            return lambda v: None if v is None else one(v)
        return _identity  # a union of scalars: JSON keeps them apart already
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is float:
                return _floats
            item = decoder(args[0])
            return lambda v: tuple(map(item, v))
        parts = [decoder(a) for a in args]
        return lambda v: tuple(p(x) for p, x in zip(parts, v, strict=True))
    if origin in (list, set, frozenset) or origin is typing.Sequence:
        item = decoder(args[0]) if args else _identity
        make = tuple if origin is typing.Sequence else origin
        return lambda v: make(item(x) for x in v)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        value = decoder(args[1]) if len(args) == 2 else _identity
        if origin is dict:
            return lambda v: {k: value(x) for k, x in v.items()}
        return lambda v: MappingProxyType({k: value(x) for k, x in v.items()})
    if tp is Mapping or tp is dict:
        return lambda v: dict(v)
    return _identity


def _as_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _floats(values: Any) -> tuple[Any, ...]:
    """A ``tuple[float, ...]`` (a target's history: most of a Snapshot's items) in one C-level
    pass, ~3x faster than item by item; a list holding anything but numbers (never written
    by ``to_wire``) item by item, as any other value."""
    try:
        return tuple(map(float, values))
    except (TypeError, ValueError):
        return tuple(map(_as_float, values))


def _dataclass_decoder(cls: type) -> Decoder:
    hints = typing.get_type_hints(cls)
    fields = [(f.name, hints.get(f.name, Any)) for f in dataclasses.fields(cls) if f.init]
    parts: list[tuple[str, Decoder | None]] = [(name, None) for name, _ in fields]

    def build(data: Any) -> Any:
        if not parts or parts[0][1] is None:  # resolved on first use: the hints may be recursive
            parts[:] = [(name, decoder(hint)) for name, hint in fields]
        kwargs = {name: dec(data[name]) for name, dec in parts if name in data and dec is not None}
        return cls(**kwargs)

    return build


def dumps(message: Any) -> bytes:
    """One message as a line of JSON (UTF-8, newline-terminated)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def loads(line: bytes | str) -> Any:
    """A line written by ``dumps``."""
    return json.loads(line)
