"""The vote log: each vote signed, once, in order; conflicts found."""
from consensus.sign_state import HeightSigns, SignState
from node.vote_log import VoteLog, conflicting_votes, read_votes

VALIDATOR = bytes(32)
A, B = b"\x0a" * 32, b"\x0b" * 32


def test_each_signed_vote_is_logged_once_across_writes(tmp_path):
    log = VoteLog(tmp_path / "votes.log")
    state = SignState("chain", VALIDATOR)
    state = state.with_record(HeightSigns(1, prepare=(0, A)))
    log.record(state)
    state = state.with_record(HeightSigns(1, prepare=(0, A), commit=(0, A)))
    log.record(state)
    log.record(state)
    state = state.with_record(HeightSigns(2, prepare=(1, B)))
    log.record(state)
    votes = list(read_votes(tmp_path / "votes.log"))
    assert [(v["height"], v["phase"], v["view"], v["block"]) for v in votes] == [
        (1, "prepare", 0, A.hex()), (1, "commit", 0, A.hex()), (2, "prepare", 1, B.hex())]
    assert conflicting_votes(iter(votes)) == []


def test_a_restarted_process_appending_a_conflicting_vote_is_found(tmp_path):
    path = tmp_path / "votes.log"
    VoteLog(path).record(SignState("chain", VALIDATOR).with_record(HeightSigns(4, prepare=(0, A), commit=(0, A))))
    VoteLog(path).record(SignState("chain", VALIDATOR).with_record(HeightSigns(4, prepare=(0, B))))   # after a restart
    conflicts = conflicting_votes(read_votes(path))
    assert [(first["block"], second["block"]) for first, second in conflicts] == [(A.hex(), B.hex())]
    assert list(read_votes(tmp_path / "missing.log")) == []
