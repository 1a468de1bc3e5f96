"""The signing floor: its records, its encoding, and the file that never moves back."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.sign_state import HeightSigns, SignState, SignStateError
from node.sign_state_file import SignStateFile
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
    assert SignState.decode(path.read_bytes()) == high
    with pytest.raises(SignStateError) as foreign:
        SignStateFile(path, CHAIN, OTHER).read()
    assert foreign.value.code == "sign_state.foreign"
    with pytest.raises(SignStateError):
        reopened.write(SignState(CHAIN, OTHER).with_record(HeightSigns(6)).encode())
    path.write_bytes(b"not a sign state")
    with pytest.raises(SignStateError) as damaged:
        SignStateFile(path, CHAIN, KEY).read()
    assert damaged.value.code == "consensus.bad_sign_state"


def test_a_file_of_the_first_format_is_read_as_its_latest_record(tmp_path):
    from chain.encoding import pack
    path = tmp_path / "sign_state"
    path.write_bytes(pack([7, 1, [0, b"a" * 32], [], [], b""]))
    state = SignStateFile(path, CHAIN, KEY).read()
    assert state == SignState(CHAIN, KEY, HeightSigns(7, 1, (0, b"a" * 32)))
