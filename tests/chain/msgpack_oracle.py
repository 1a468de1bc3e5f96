"""An independent, deliberately plain MessagePack encoder for tests.

By default it writes the canonical form of docs/protocol.md section 1, so it
doubles as an oracle for ``chain.encoding.pack``. Asked to, it writes the
``widen``-th header (an integer or a length) in a wider form than needed,
or a map's keys out of order: the non-canonical variants a strict decoder
must refuse.
"""
from __future__ import annotations

import struct
from typing import Any

# For each header a value can take, from the narrowest: (prefix byte, width
# in bytes of the number after it, largest number it holds).
_UINT_FORMS = [(0xCC, 1, 0xFF), (0xCD, 2, 0xFFFF), (0xCE, 4, 0xFFFFFFFF), (0xCF, 8, 2**64 - 1)]
_INT_FORMS = [(0xD0, 1, 2**7), (0xD1, 2, 2**15), (0xD2, 4, 2**31), (0xD3, 8, 2**63)]
_STR_FORMS = [(0xD9, 1, 0xFF), (0xDA, 2, 0xFFFF), (0xDB, 4, 0xFFFFFFFF)]
_BIN_FORMS = [(0xC4, 1, 0xFF), (0xC5, 2, 0xFFFF), (0xC6, 4, 0xFFFFFFFF)]
_ARRAY_FORMS = [(0xDC, 2, 0xFFFF), (0xDD, 4, 0xFFFFFFFF)]
_MAP_FORMS = [(0xDE, 2, 0xFFFF), (0xDF, 4, 0xFFFFFFFF)]


class OracleEncoder:
    def __init__(self, widen: int | None = None, unsort_map: int | None = None) -> None:
        self.widen = widen
        self.unsort_map = unsort_map
        self.headers_seen = 0
        self.widenable_seen = 0
        self.maps_seen = 0
        self.applied = False

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bool):
            return b"\xc3" if value else b"\xc2"
        if isinstance(value, int):
            return self._int(value)
        if isinstance(value, str):
            data = value.encode()
            return self._header(len(data), 0xA0, 32, _STR_FORMS) + data
        if isinstance(value, bytes):
            return self._header(len(value), None, 0, _BIN_FORMS) + value
        if isinstance(value, list):
            return self._header(len(value), 0x90, 16, _ARRAY_FORMS) + b"".join(self.encode(item) for item in value)
        if isinstance(value, dict):
            return self._map(value)
        raise TypeError(type(value))

    def _map(self, value: dict) -> bytes:
        keys = sorted(value)
        index = self.maps_seen
        self.maps_seen += 1
        if self.unsort_map == index and len(keys) >= 2:
            keys[0], keys[1] = keys[1], keys[0]
            self.applied = True
        header = self._header(len(value), 0x80, 16, _MAP_FORMS)
        return header + b"".join(self.encode(key) + self.encode(value[key]) for key in keys)

    def _int(self, number: int) -> bytes:
        if 0 <= number < 128:
            return self._widenable(bytes([number]), number, _UINT_FORMS, 0)
        if -32 <= number < 0:
            return self._widenable(struct.pack("b", number), number, _INT_FORMS, 0)
        forms = _UINT_FORMS if number >= 0 else _INT_FORMS
        for position, (prefix, width, limit) in enumerate(forms):
            fits = number <= limit if number >= 0 else -limit <= number
            if fits:
                return self._widenable(bytes([prefix]) + number.to_bytes(width, "big", signed=number < 0), number, forms, position + 1)
        raise ValueError(number)

    def _header(self, length: int, fix_prefix: int | None, fix_limit: int, forms: list) -> bytes:
        if fix_prefix is not None and length < fix_limit:
            return self._widenable(bytes([fix_prefix | length]), length, forms, 0)
        for position, (prefix, width, limit) in enumerate(forms):
            if length <= limit:
                return self._widenable(bytes([prefix]) + length.to_bytes(width, "big"), length, forms, position + 1)
        raise ValueError(length)

    def _widenable(self, narrow: bytes, number: int, forms: list, wider_from: int) -> bytes:
        """``narrow`` unless this is the header to widen and a wider form exists."""
        self.headers_seen += 1
        if wider_from >= len(forms):
            return narrow
        index = self.widenable_seen
        self.widenable_seen += 1
        if index != self.widen:
            return narrow
        prefix, width, _ = forms[wider_from]
        self.applied = True
        return bytes([prefix]) + number.to_bytes(width, "big", signed=number < 0)
