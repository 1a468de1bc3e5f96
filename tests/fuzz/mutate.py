"""A deterministic mutation engine: valid seeds in, near-valid inputs out.

Every mutated input is a pure function of the seed corpus, the run's seed
and the input's index (``Mutator.input``), so an index alone reproduces an
input. An input is one seed with a small stack of mutations applied:

- byte-level, for every surface: bit flips, byte replacements with
  interesting values (0x00, 0xff, 0x7f, 0x80, MessagePack type bytes),
  small arithmetic on a byte (lengths), insertions, deletions, truncation,
  duplication of a range, overwriting with interesting multi-byte integers,
  splicing two seeds;
- MessagePack-aware, for binary surfaces: a byte string nested in the value
  is mutated and the value packed again (so the lengths stay right and the
  mutation reaches the decoder of the inner object: a block inside a sync
  response, a payload inside a wire message), or a node is replaced by an
  interesting value of another or the same type;
- JSON-aware, for JSON surfaces: deep nesting around a node, huge and
  non-finite numbers, lone surrogate escapes, wrong types, missing and extra
  fields, method and id variants, params as object or array, big batches,
  and bodies that are not UTF-8.
"""
from __future__ import annotations

import json
import random
from typing import Any, Callable, Sequence

import msgpack

# Single bytes worth trying anywhere: boundaries, and every MessagePack type
# byte the canonical decoder must refuse or check (nil, the unused 0xc1,
# bools, bin/str/array/map headers of each width, ext, float, every int width).
INTERESTING_BYTES = bytes([
    0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x40, 0x90, 0x9f, 0x8f, 0xa0, 0xbf, 0xe0,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
])
INTERESTING_WORDS = (
    b"\x00\x00", b"\xff\xff", b"\x7f\xff", b"\x80\x00", b"\x00\x80", b"\x01\x00",
    b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00",
    b"\x00" * 8, b"\xff" * 8, b"\x7f" + b"\xff" * 7, b"\x80" + b"\x00" * 7,
)
# Values a MessagePack node may be replaced with: the canonical decoder
# allows some (to reach the type checks behind it), refuses others.
INTERESTING_VALUES: tuple[Any, ...] = (
    0, 1, -1, 127, 128, 255, 256, 2**32, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), True, False, None, 1.5,
    "", "x", "prepare", "commit", "tx", "consensus", "\u00e9" * 3, b"", b"\x00", bytes(32), bytes(33), bytes(64),
    [], [0], [[]], {}, {"": 0}, msgpack.ExtType(1, b"x"),
)
# Raw JSON texts no Python value serialises to, spliced in by text.
JSON_RAW_TEXTS = (
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "0.0", "1E400", "1" + "0" * 30, "-" + "9" * 40,
    "1" + "0" * 5000, '"\\ud800"', '"\\udfff"', '"a\\ud800b"', '"\\udc80\\ud800"', '"\\u0000"', '"\\uffff"',
    "1.0000000000000002", "[1,]", "{\"a\":1,\"a\":2}",
)
JSON_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**31, 2**53 + 1, 2**63, 2**64, 10**30, -(10**30), 0.5, 1e308, "",
    "0", "x" * 300, "\u00e9", "\U0001f600", [], [None], {}, {"": None}, "ab" * 32, "AB" * 32,
)
NESTING_DEPTHS = (30, 31, 32, 33, 34, 100, 1000, 100_000)
BATCH_SIZES = (0, 1, 2, 9, 10, 11, 100, 1000)
# The number of mutations stacked on one input, weighted towards one.
STACK_DEPTHS = (1, 1, 1, 1, 2, 2, 3, 4, 8)
_SENTINEL = "\x00fuzz-raw\x00"
_SENTINEL_TEXT = json.dumps(_SENTINEL)
# Random descent to a node: the chance to stop at each level, and the tries.
_STOP_CHANCE = 0.3
_DESCENTS = 8


class Mutator:
    """Mutated inputs for one surface; ``json_vocabulary`` (method names,
    param names, plausible values) turns on the JSON-aware mutations.
    ``prefix_bytes`` leading bytes (a selector, such as p2p's mode byte) are
    left out of the MessagePack-aware mutations, which parse what follows."""

    def __init__(self, seeds: Sequence[bytes], max_len: int, json_vocabulary: Sequence[str] | None = None,
                 prefix_bytes: int = 0) -> None:
        if not seeds:
            raise ValueError("a mutator needs at least one seed")
        self.seeds = list(seeds)
        self.max_len = max_len
        self.vocabulary = list(json_vocabulary) if json_vocabulary is not None else None
        byte_ops: list[Callable[[random.Random, bytes], bytes]] = [
            self._flip_bit, self._replace_byte, self._arith_byte, self._insert, self._delete, self._truncate,
            self._duplicate_range, self._overwrite_word, self._splice,
        ]
        if self.vocabulary is None:
            structure_ops = [self._msgpack_leaf_bytes, self._msgpack_replace_node, self._msgpack_resize]
            self._nested_ops = byte_ops * 2 + structure_ops * 3
            if prefix_bytes:
                structure_ops = [_after_prefix(op, prefix_bytes) for op in structure_ops]
            self._ops = byte_ops * 2 + structure_ops * 3
        else:
            structure_ops = [
                self._json_replace_node, self._json_raw_node, self._json_wrong_type, self._json_drop_key,
                self._json_add_key, self._json_vocabulary_string, self._json_nest, self._json_batch,
                self._json_params_shape, self._json_id, self._json_not_utf8,
            ]
            self._ops = self._nested_ops = byte_ops + structure_ops * 4

    def input(self, seed: int, index: int) -> bytes:
        """The ``index``-th input of the run with ``seed``."""
        rng = random.Random((seed << 48) ^ index)
        data = rng.choice(self.seeds)
        for _ in range(rng.choice(STACK_DEPTHS)):
            try:
                data = rng.choice(self._ops)(rng, data)
            except RecursionError:   # a body nested too deep to re-serialise keeps its last form
                continue
            if len(data) > self.max_len:
                data = data[: self.max_len]
        return data

    # -- byte-level ----------------------------------------------------------------

    @staticmethod
    def _flip_bit(rng: random.Random, data: bytes) -> bytes:
        if not data:
            return bytes([1 << rng.randrange(8)])
        at = rng.randrange(len(data))
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]

    @staticmethod
    def _replace_byte(rng: random.Random, data: bytes) -> bytes:
        if not data:
            return bytes([rng.choice(INTERESTING_BYTES)])
        at = rng.randrange(len(data))
        value = rng.choice(INTERESTING_BYTES) if rng.random() < 0.75 else rng.randrange(256)
        return data[:at] + bytes([value]) + data[at + 1:]

    @staticmethod
    def _arith_byte(rng: random.Random, data: bytes) -> bytes:
        if not data:
            return data
        at = rng.randrange(len(data))
        return data[:at] + bytes([(data[at] + rng.choice((-2, -1, 1, 2, 16, -16))) % 256]) + data[at + 1:]

    @staticmethod
    def _insert(rng: random.Random, data: bytes) -> bytes:
        at = rng.randrange(len(data) + 1)
        if rng.random() < 0.5:
            chunk = bytes(rng.choice(INTERESTING_BYTES) for _ in range(rng.randint(1, 4)))
        else:
            chunk = rng.randbytes(rng.choice((1, 2, 8, 32, 64)))
        return data[:at] + chunk + data[at:]

    @staticmethod
    def _delete(rng: random.Random, data: bytes) -> bytes:
        if not data:
            return data
        at = rng.randrange(len(data))
        return data[:at] + data[at + rng.randint(1, min(16, len(data) - at)):]

    @staticmethod
    def _truncate(rng: random.Random, data: bytes) -> bytes:
        return data[: rng.randrange(len(data) + 1)]

    @staticmethod
    def _duplicate_range(rng: random.Random, data: bytes) -> bytes:
        if not data:
            return data
        start = rng.randrange(len(data))
        chunk = data[start:start + rng.randint(1, 64)] * rng.choice((1, 1, 2, 16))
        at = rng.randrange(len(data) + 1)
        return data[:at] + chunk + data[at:]

    @staticmethod
    def _overwrite_word(rng: random.Random, data: bytes) -> bytes:
        word = rng.choice(INTERESTING_WORDS)
        if len(data) < len(word):
            return word
        at = rng.randrange(len(data) - len(word) + 1)
        return data[:at] + word + data[at + len(word):]

    def _splice(self, rng: random.Random, data: bytes) -> bytes:
        other = rng.choice(self.seeds)
        return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1):]

    def _byte_op(self, rng: random.Random, data: bytes) -> bytes:
        op = rng.choice((self._flip_bit, self._replace_byte, self._arith_byte, self._insert, self._delete,
                         self._truncate, self._duplicate_range, self._overwrite_word))
        return op(rng, data)

    # -- MessagePack-aware ---------------------------------------------------------

    def _msgpack_leaf_bytes(self, rng: random.Random, data: bytes) -> bytes:
        """Mutate one nested byte string (a block in a response, a tx in a block) and pack again."""
        value = _msgpack_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        slot = _random_slot(rng, value, lambda node: isinstance(node, bytes))
        if slot is None:
            return self._byte_op(rng, data)
        # Any op, so an encoding nested in the leaf (a block's header) is mutated as a value in turn.
        return _msgpack_dump(_set(value, slot, rng.choice(self._nested_ops)(rng, _get(value, slot))), data)

    def _msgpack_replace_node(self, rng: random.Random, data: bytes) -> bytes:
        value = _msgpack_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        slot = _random_slot(rng, value) or ()
        old = _get(value, slot)
        if isinstance(old, int) and not isinstance(old, bool) and rng.random() < 0.5:
            new: Any = max(-(2**63), min(2**64 - 1, old + rng.choice((-1, 1, 2**32))))
        else:
            new = rng.choice(INTERESTING_VALUES)
        return _msgpack_dump(_set(value, slot, new), data)

    def _msgpack_resize(self, rng: random.Random, data: bytes) -> bytes:
        """Drop or repeat an item of a list or map (a missing field, an extra vote)."""
        value = _msgpack_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        slot = _random_slot(rng, value, _is_container) or ()
        container = _get(value, slot)
        if isinstance(container, list):
            items = list(container)
            if items and rng.random() < 0.5:
                del items[rng.randrange(len(items))]
            else:
                items.insert(rng.randrange(len(items) + 1), rng.choice(items) if items else rng.choice(INTERESTING_VALUES))
        elif isinstance(container, dict):
            items = dict(container)
            if items and rng.random() < 0.5:
                del items[rng.choice(list(items))]
            else:
                items[rng.choice(("", "a", "zz", "height", "votes", "blocks"))] = rng.choice(INTERESTING_VALUES)
        else:
            return self._byte_op(rng, data)
        return _msgpack_dump(_set(value, slot, items), data)

    # -- JSON-aware ----------------------------------------------------------------

    def _json_edit(self, rng: random.Random, data: bytes, edit: Callable[[Any, tuple], Any], *,
                   containers_only: bool = False) -> bytes:
        """Apply ``edit(value, slot)`` at a random node of the parsed body; a
        body that does not parse gets a byte-level mutation instead."""
        value = _json_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        slot = _random_slot(rng, value, _is_container if containers_only else _any) or ()
        return _json_dump(edit(value, slot), rng)

    def _json_replace_node(self, rng: random.Random, data: bytes) -> bytes:
        return self._json_edit(rng, data, lambda value, slot: _set(value, slot, rng.choice(JSON_VALUES)))

    def _json_raw_node(self, rng: random.Random, data: bytes) -> bytes:
        value = _json_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        slot = _random_slot(rng, value) or ()
        return _json_dump_raw(_set(value, slot, _SENTINEL), rng.choice(JSON_RAW_TEXTS), rng)

    def _json_wrong_type(self, rng: random.Random, data: bytes) -> bytes:
        def edit(value: Any, slot: tuple) -> Any:
            old = _get(value, slot)
            choices = [v for v in JSON_VALUES if type(v) is not type(old)]
            if isinstance(old, dict):
                choices.append(list(old.values()))
            elif isinstance(old, list):
                choices.append({str(i): item for i, item in enumerate(old)})
            elif isinstance(old, (int, str)) and not isinstance(old, bool):
                choices.append(str(old) if isinstance(old, int) else [old])
            return _set(value, slot, rng.choice(choices))
        return self._json_edit(rng, data, edit)

    def _json_drop_key(self, rng: random.Random, data: bytes) -> bytes:
        def edit(value: Any, slot: tuple) -> Any:
            node = _get(value, slot)
            if isinstance(node, dict) and node:
                node = dict(node)
                del node[rng.choice(list(node))]
            elif isinstance(node, list) and node:
                node = node[:rng.randrange(len(node))]
            return _set(value, slot, node)
        return self._json_edit(rng, data, edit, containers_only=True)

    def _json_add_key(self, rng: random.Random, data: bytes) -> bytes:
        def edit(value: Any, slot: tuple) -> Any:
            node = _get(value, slot)
            extra = rng.choice(self.vocabulary) if rng.random() < 0.7 else rng.choice(JSON_VALUES)
            if isinstance(node, dict):
                node = {**node, rng.choice(self.vocabulary + ["", "\u00e9", "x" * 100]): extra}
            elif isinstance(node, list):
                node = node + [extra]
            return _set(value, slot, node)
        return self._json_edit(rng, data, edit, containers_only=True)

    def _json_vocabulary_string(self, rng: random.Random, data: bytes) -> bytes:
        """A string or a key replaced by a name the node knows, or that name bent a little."""
        def edit(value: Any, slot: tuple) -> Any:
            word = rng.choice(self.vocabulary)
            if rng.random() < 0.3:
                word = self._byte_op(rng, word.encode()).decode("utf-8", "surrogateescape")
            return _set(value, slot, word)
        return self._json_edit(rng, data, edit)

    def _json_nest(self, rng: random.Random, data: bytes) -> bytes:
        value = _json_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        slot = _random_slot(rng, value) or ()
        depth = rng.choice(NESTING_DEPTHS)
        inner = json.dumps(_get(value, slot))
        opening, closing = ("[", "]") if rng.random() < 0.5 else ('{"a":', "}")
        return _json_dump_raw(_set(value, slot, _SENTINEL), opening * depth + inner + closing * depth, rng)

    def _json_batch(self, rng: random.Random, data: bytes) -> bytes:
        value = _json_load(data)
        if value is _NOT_PARSED:
            return self._byte_op(rng, data)
        calls = value if isinstance(value, list) and value else [value]
        size = rng.choice(BATCH_SIZES)
        return _json_dump([calls[i % len(calls)] for i in range(size)], rng)

    def _json_params_shape(self, rng: random.Random, data: bytes) -> bytes:
        def edit(value: Any, slot: tuple) -> Any:
            node = _get(value, slot)
            if not isinstance(node, dict) or "params" not in node:
                return value
            node, params = dict(node), node["params"]
            if isinstance(params, dict):
                node["params"] = list(params.values()) if rng.random() < 0.7 else list(params)
            elif isinstance(params, list):
                node["params"] = {rng.choice(self.vocabulary): item for item in params}
            else:
                del node["params"]
            return _set(value, slot, node)
        return self._json_edit(rng, data, edit, containers_only=True)

    def _json_id(self, rng: random.Random, data: bytes) -> bytes:
        def edit(value: Any, slot: tuple) -> Any:
            node = _get(value, slot)
            if not isinstance(node, dict):
                return value
            node = dict(node)
            if rng.random() < 0.2:
                node.pop("id", None)
            else:
                node["id"] = rng.choice((None, 0, -1, 2**70, 1.5, "", "x", True, [], {}, [1], "\U0001f600"))
            return _set(value, slot, node)
        return self._json_edit(rng, data, edit, containers_only=True)

    def _json_not_utf8(self, rng: random.Random, data: bytes) -> bytes:
        """Raw bytes that are not UTF-8 (or a UTF-16 body) where a client should send UTF-8."""
        text = data.decode("utf-8", "replace")
        choice = rng.randrange(3)
        if choice == 0:
            return text.encode("utf-16")
        at = rng.randrange(len(data) + 1)
        return data[:at] + (b"\xff\xfe" if choice == 1 else b"\xed\xa0\x80") + data[at:]


_NOT_PARSED = object()


def _after_prefix(op: Callable[[random.Random, bytes], bytes], size: int) -> Callable[[random.Random, bytes], bytes]:
    def mutate(rng: random.Random, data: bytes) -> bytes:
        return data[:size] + op(rng, data[size:])
    return mutate


def _msgpack_load(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception:  # noqa: BLE001 - a mutated input may be anything; the op falls back to bytes
        return _NOT_PARSED


def _msgpack_dump(value: Any, fallback: bytes) -> bytes:
    try:
        return msgpack.packb(value, use_bin_type=True)
    except (TypeError, ValueError, OverflowError):
        return fallback


def _json_load(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _NOT_PARSED


def _json_dump(value: Any, rng: random.Random) -> bytes:
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5, separators=(",", ":") if rng.random() < 0.5 else None)
    return text.encode("utf-8", "surrogatepass")


def _json_dump_raw(value: Any, raw: str, rng: random.Random) -> bytes:
    """``value`` serialised with the sentinel string replaced by ``raw`` text."""
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
    return text.replace(_SENTINEL_TEXT, raw, 1).encode("utf-8", "surrogatepass")


def _any(node: Any) -> bool:
    return True


def _is_container(node: Any) -> bool:
    return isinstance(node, (list, dict))


def _random_slot(rng: random.Random, value: Any, accept: Callable[[Any], bool] = _any) -> tuple | None:
    """The path (keys and indexes) to a random node that ``accept``s, found by
    random descent from the root (a few tries); None when none is found."""
    for _ in range(_DESCENTS):
        path: tuple = ()
        node = value
        while True:
            children = node if isinstance(node, list) else list(node) if isinstance(node, dict) else None
            if accept(node) and (not children or rng.random() < _STOP_CHANCE):
                return path
            if not children:
                break
            key = rng.randrange(len(children)) if isinstance(node, list) else rng.choice(children)
            path, node = path + (key,), node[key]
    return None


def _get(value: Any, slot: tuple) -> Any:
    for key in slot:
        value = value[key]
    return value


def _set(value: Any, slot: tuple, new: Any) -> Any:
    """A copy of ``value`` with the node at ``slot`` replaced (containers on the path are copied)."""
    if not slot:
        return new
    head, rest = slot[0], slot[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _set(value[head], rest, new)
    return copy
