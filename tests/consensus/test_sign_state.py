"""The signing floor: its records, its encoding, and the file that never moves back."""
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chain.genesis import DEFAULT_PARAMS
from consensus.sign_state import HeightSigns, SignState, SignStateError
from node import sign_state_file
from node.sign_state_file import LOG_HEADER, SignStateFile
from tests.factories import validator_keys

KEY = validator_keys(1)[0].public_key
OTHER = validator_keys(2)[1].public_key
CHAIN = "shopchain-floor"

records = st.builds(
    HeightSigns,
    height=st.integers(1, 50),
    view_floor=st.integers(0, 5),
    prepare=st.none() | st.tuples(st.integers(0, 5), st.binary(min_size=32, max_size=32)),
    commit=st.none() | st.tuples(st.integers(0, 5), st.binary(min_size=32, max_size=32)),
)


def _fold(signs: list[HeightSigns]) -> SignState:
    state = SignState(CHAIN, KEY)
    for record in signs:
        if state.may_sign_at(record.height):
            state = state.with_record(record)
    return state


@given(st.lists(records, max_size=20))
def test_the_floor_never_falls_and_keeps_the_records_of_its_height_and_the_one_below(signs):
    state, floor = SignState(CHAIN, KEY), 0
    for record in signs:
        if not state.may_sign_at(record.height):
            with pytest.raises(ValueError):
                state.with_record(record)
            continue
        before = state
        state = state.with_record(record)
        assert state.floor >= floor
        floor = state.floor
        assert state.record(record.height) == record
        below = before.record(state.floor - 1) if record.height == state.floor else None
        if below is not None:
            assert state.record(state.floor - 1) == below
        assert state.before is None or state.before.height == state.floor - 1
        before.check_successor(state)


@given(st.lists(records, max_size=20))
def test_encoding_round_trips(signs):
    state = _fold(signs)
    assert SignState.decode(state.encode()) == state


def test_nothing_is_signed_below_the_floor_minus_one():
    state = SignState(CHAIN, KEY).with_record(HeightSigns(9)).with_record(HeightSigns(10, prepare=(0, b"a" * 32)))
    assert state.floor == 10 and state.record(9) == HeightSigns(9)
    assert [state.may_sign_at(h) for h in (7, 8, 9, 10, 11)] == [False, False, True, True, True]
    jumped = state.with_record(HeightSigns(14))
    assert jumped.before is None and jumped.record(10) is None and not jumped.may_sign_at(12)


def test_damaged_foreign_and_older_format_states_are_refused():
    with pytest.raises(SignStateError) as damaged:
        SignState.decode(b"\x93\x01\x02")
    assert damaged.value.code == "consensus.bad_sign_state"
    with pytest.raises(SignStateError) as foreign:
        SignState(CHAIN, OTHER).check_owner(CHAIN, KEY)
    assert foreign.value.code == "sign_state.foreign"
    with pytest.raises(SignStateError) as other_chain:
        SignState("another", KEY).check_owner(CHAIN, KEY)
    assert other_chain.value.code == "sign_state.foreign"


def test_the_file_refuses_to_move_back_and_to_change_owner(tmp_path):
    path = tmp_path / "sign_state"
    file = SignStateFile(path, CHAIN, KEY)
    assert file.read() is None
    file.create()
    high = SignState(CHAIN, KEY).with_record(HeightSigns(5))
    file.write(high.encode())
    reopened = SignStateFile(path, CHAIN, KEY)
    with pytest.raises(SignStateError) as backwards:
        reopened.write(SignState(CHAIN, KEY).with_record(HeightSigns(3)).encode())
    assert backwards.value.code == "sign_state.backwards"
    assert SignStateFile(path, CHAIN, KEY).read() == high
    with pytest.raises(SignStateError) as foreign:
        SignStateFile(path, CHAIN, OTHER).read()
    assert foreign.value.code == "sign_state.foreign"
    with pytest.raises(SignStateError):
        reopened.write(SignState(CHAIN, OTHER).with_record(HeightSigns(6)).encode())
    path.write_bytes(b"not a sign state")
    with pytest.raises(SignStateError) as damaged:
        SignStateFile(path, CHAIN, KEY).read()
    assert damaged.value.code == "consensus.bad_sign_state"


def test_records_of_two_heights_each_holding_a_full_prepared_block_are_written_and_read_back(tmp_path):
    """Two consecutive full blocks (block_bytes_max of transactions each, any
    account holder can fill them) make a state larger than the decoder's
    default cap; the validator must still write and read it, or it halts."""
    block = bytes(DEFAULT_PARAMS["block_bytes_max"] + 4096)    # the transactions' bytes and the block's own
    state = SignState(CHAIN, KEY)
    for height in (7, 8):
        state = state.with_record(HeightSigns(height, prepare=(0, bytes(32)), commit=(0, bytes(32)), prepared_block=block))
    assert len(state.encode()) > 2 * DEFAULT_PARAMS["block_bytes_max"]
    file = SignStateFile(tmp_path / "sign_state", CHAIN, KEY)
    file.create()
    assert file.write(state.encode()) == state
    assert SignStateFile(tmp_path / "sign_state", CHAIN, KEY).read() == state


def test_a_file_of_the_first_format_is_read_as_its_latest_record(tmp_path):
    from chain.encoding import pack
    path = tmp_path / "sign_state"
    path.write_bytes(pack([7, 1, [0, b"a" * 32], [], [], b""]))
    state = SignStateFile(path, CHAIN, KEY).read()
    assert state == SignState(CHAIN, KEY, HeightSigns(7, 1, (0, b"a" * 32)))


def _at(height: int) -> SignState:
    return SignState(CHAIN, KEY).with_record(HeightSigns(height))


def test_a_write_torn_anywhere_leaves_the_state_before_it_and_the_next_write_cuts_it_off(tmp_path):
    path = tmp_path / "sign_state"
    file = SignStateFile(path, CHAIN, KEY)
    file.create()
    ends = []
    for height in (1, 2, 3):
        file.write(_at(height).encode())
        ends.append(path.stat().st_size)
    whole = path.read_bytes()
    for cut in range(ends[0], len(whole) + 1):
        path.write_bytes(whole[:cut])
        reopened = SignStateFile(path, CHAIN, KEY)
        assert reopened.read() == _at(1 + sum(end <= cut for end in ends[1:]))
        reopened.write(_at(9).encode())
        assert SignStateFile(path, CHAIN, KEY).read() == _at(9)
        # The torn tail is gone: the new frame follows the newest whole one.
        assert path.stat().st_size == max(end for end in ends if end <= cut) + 36 + len(_at(9).encode())


def test_a_damaged_byte_in_the_newest_frame_falls_back_to_the_one_before(tmp_path):
    path = tmp_path / "sign_state"
    file = SignStateFile(path, CHAIN, KEY)
    file.create()
    file.write(_at(4).encode())
    file.write(_at(5).encode())
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert SignStateFile(path, CHAIN, KEY).read() == _at(4)
    path.write_bytes(LOG_HEADER + b"\x00\x00\x00\x05" + bytes(32) + b"12345")
    with pytest.raises(SignStateError) as damaged:
        SignStateFile(path, CHAIN, KEY).read()
    assert damaged.value.code == "consensus.bad_sign_state"


def test_a_vote_appends_one_frame_and_waits_for_one_fdatasync(tmp_path, monkeypatch):
    path = tmp_path / "sign_state"
    file = SignStateFile(path, CHAIN, KEY)
    file.create()
    synced = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append("fdatasync"), real_fdatasync(fd))[1])
    size = path.stat().st_size
    file.write(_at(3).encode())
    assert synced == ["fdatasync"]
    assert path.stat().st_size == size + 36 + len(_at(3).encode())


def test_the_file_is_written_whole_past_its_cap_after_an_older_format_and_when_replaced(tmp_path, monkeypatch):
    path = tmp_path / "sign_state"
    path.write_bytes(_at(2).encode())                     # the format before the log
    file = SignStateFile(path, CHAIN, KEY)
    assert file.read() == _at(2)
    file.write(_at(3).encode())
    assert path.read_bytes().startswith(LOG_HEADER) and SignStateFile(path, CHAIN, KEY).read() == _at(3)
    monkeypatch.setattr(sign_state_file, "LOG_BYTES_MAX", 400)
    for height in range(4, 30):
        file.write(_at(height).encode())
        assert path.stat().st_size <= 400
    assert SignStateFile(path, CHAIN, KEY).read() == _at(29)
    older = path.read_bytes()
    file.write(_at(30).encode())
    path.write_bytes(older)                               # put back behind the running node's back
    file.write(_at(31).encode())
    assert SignStateFile(path, CHAIN, KEY).read() == _at(31)
    other = SignStateFile(tmp_path / "other", CHAIN, KEY)
    other.create()
    for height in range(1, 8):
        other.write(SignState(CHAIN, KEY).with_record(HeightSigns(height, 3)).encode())
    path.write_bytes((tmp_path / "other").read_bytes())   # a longer log, not this one's
    file.write(_at(32).encode())
    assert SignStateFile(path, CHAIN, KEY).read() == _at(32)
    path.unlink()
    file.write(_at(33).encode())
    assert SignStateFile(path, CHAIN, KEY).read() == _at(33)
