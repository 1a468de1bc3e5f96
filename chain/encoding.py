"""Canonical MessagePack: one byte string for each value, and a strict decoder.

Allowed values: bool, int (64-bit range), str, bytes, list and map with str
keys. Maps are packed with keys in ascending order of their UTF-8 bytes
(the same order as Python's str comparison), integers and lengths in their
smallest form, bytes as ``bin`` and text as ``str``. No floats, no nil, no
ext types.

The decoder refuses everything else with a ``DecodeError`` carrying a stable
code. Re-encoding catches non-minimal integers and lengths; the explicit
type walk catches what re-encoding cannot (floats, nil, ext, non-str keys),
and the pairs hook refuses unsorted or duplicate keys as they are read.
"""
from __future__ import annotations

from typing import Any

import msgpack

from chain.constants import MAX_DECODE_BYTES, MAX_NESTING_DEPTH, MAX_UINT64, MIN_INT64
from chain.errors import DecodeError

_packer = msgpack.Packer(use_bin_type=True, autoreset=True)


def pack(value: Any) -> bytes:
    """The canonical encoding of ``value``; raises TypeError on a value the
    protocol does not allow (a caller's bug, not a peer's)."""
    return _packer.pack(_canonical(value, 0))


def pack_bin_pairs(pairs: list[list[bytes]]) -> bytes:
    """``pack(pairs)`` for a list of [bytes, bytes] pairs (a write-set), at
    msgpack's own speed: bytes need no canonical rewriting."""
    for pair in pairs:
        if len(pair) != 2 or type(pair[0]) is not bytes or type(pair[1]) is not bytes:
            raise TypeError("pack_bin_pairs takes [bytes, bytes] pairs only")
    return _packer.pack(pairs)


def _canonical(value: Any, depth: int) -> Any:
    """``value`` with every map's keys sorted, after checking every type.
    Scalars inside containers are checked inline: most records are flat."""
    kind = type(value)
    if kind is dict:
        _check_depth(depth, value)
        canonical = {}
        for key in sorted(value):
            if type(key) is not str:
                raise TypeError(f"map key {key!r} is not a str")
            canonical[key] = _canonical_item(value[key], depth + 1)
        return canonical
    if kind is list or kind is tuple:
        _check_depth(depth, value)
        return [_canonical_item(item, depth + 1) for item in value]
    return _canonical_item(value, depth)


def _canonical_item(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str or kind is bytes or kind is bool:
        return value
    if kind is int:
        if not MIN_INT64 <= value <= MAX_UINT64:
            raise ValueError(f"integer {value} is outside the 64-bit range")
        return value
    if kind is dict or kind is list or kind is tuple:
        return _canonical(value, depth)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, int):
        return _canonical_item(int(value), depth)
    if isinstance(value, dict):
        return _canonical(dict(value), depth)
    if isinstance(value, (list, tuple)):
        return _canonical(list(value), depth)
    raise TypeError(f"{type(value).__name__} cannot be encoded canonically")


def _check_depth(depth: int, container: Any) -> None:
    """A container's items sit one level deeper: none may pass the limit."""
    if depth >= MAX_NESTING_DEPTH and container:
        raise ValueError(f"value nested deeper than {MAX_NESTING_DEPTH} levels")


def unpack_trusted(data: bytes) -> Any:
    """Decode bytes this node wrote itself (its own state records), skipping
    the canonical-form checks that guard against peers and clients. Never
    use it on bytes that came from outside the node."""
    return msgpack.unpackb(data, raw=False, strict_map_key=True)


def unpack_item_trusted(data: bytes, *indexes: int) -> Any:
    """The item at ``indexes`` of nested lists this node wrote itself (``1, 7``:
    the eighth item of the second list), every other item skipped undecoded:
    a stored block's header, or one of its transactions, without the rest."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=True, max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    for index in indexes:
        length = unpacker.read_array_header()
        if not 0 <= index < length:
            raise IndexError(f"item {index} of a list of {length}")
        for _ in range(index):
            unpacker.skip()
    return unpacker.unpack()


def unpack(data: bytes, max_bytes: int = MAX_DECODE_BYTES) -> Any:
    """Decode ``data`` if and only if it is the canonical encoding of an
    allowed value; otherwise raise ``DecodeError``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("unpack takes bytes")
    if len(data) > max_bytes:
        raise DecodeError(
            "encoding.too_large",
            f"input of {len(data)} bytes exceeds the cap of {max_bytes} bytes; send a smaller object",
        )
    data = bytes(data)
    value = _unpack_raw(data)
    _check_types(value, 0)
    if _packer.pack(value) != data:
        raise DecodeError(
            "encoding.non_canonical",
            "integers and lengths must use their smallest MessagePack form; re-encode canonically",
        )
    return value


def _unpack_raw(data: bytes) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            use_list=True,
            object_pairs_hook=_checked_map,
            ext_hook=_refuse_ext,
        )
    except DecodeError:
        raise
    except msgpack.ExtraData:
        raise DecodeError("encoding.trailing_bytes", "bytes follow the encoded value; send exactly one value") from None
    except msgpack.StackError:
        raise DecodeError("encoding.too_deep", f"value nested deeper than {MAX_NESTING_DEPTH} levels") from None
    except UnicodeDecodeError:
        raise DecodeError("encoding.malformed", "a str is not valid UTF-8; send text as UTF-8") from None
    except (ValueError, TypeError, OverflowError, msgpack.FormatError, RecursionError, MemoryError):
        raise DecodeError("encoding.malformed", "input is not valid MessagePack; check how it was built") from None


def _checked_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    previous = None
    for key, _ in pairs:
        if not isinstance(key, str):
            raise DecodeError("encoding.key_type", "map keys must be str; encode keys as text")
        if previous is not None and key <= previous:
            if key == previous:
                raise DecodeError("encoding.duplicate_key", f"map key {key!r} appears twice; send each key once")
            raise DecodeError("encoding.unsorted_keys", "map keys must be in ascending byte order; sort them")
        previous = key
    return dict(pairs)


def _refuse_ext(code: int, data: bytes) -> Any:
    raise DecodeError("encoding.ext_type", "MessagePack ext types are not allowed; use bin, str, int, list or map")


_SCALAR_TYPES = frozenset((int, bool, str, bytes))


def _check_types(value: Any, depth: int) -> None:
    kind = type(value)
    if kind in _SCALAR_TYPES:
        return
    if kind is list:
        items = value
    elif kind is dict:
        items = value.values()
    else:
        _refuse_type(value)
    if depth >= MAX_NESTING_DEPTH and items:
        raise DecodeError("encoding.too_deep", f"value nested deeper than {MAX_NESTING_DEPTH} levels")
    for item in items:
        if type(item) not in _SCALAR_TYPES:
            _check_types(item, depth + 1)


def _refuse_type(value: Any) -> None:
    if type(value) is float:
        raise DecodeError("encoding.float", "floats are not allowed; use integers in minor units")
    if value is None:
        raise DecodeError("encoding.nil", "nil is not allowed; omit an optional field instead")
    raise DecodeError("encoding.ext_type", "MessagePack ext types are not allowed; use bin, str, int, list or map")
