"""The checker is not vacuous: f+1 equivocating validators break safety, and
the simulator and the CLI report it with the command that replays it."""
import json

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from chain.keys import KeyPair, SignatureVerifier, verify_signature
from chain.votes import sign_vote
from cli.main import main
from node.sim import SimConfig, Simulation, run

BROKEN = dict(validators=4, byzantine=2, strategy="equivocate", seed=1, duration_ms=4_000)


def test_f_plus_one_equivocators_are_caught():
    report = run(SimConfig(**BROKEN))
    assert report.violations and "committed block" in report.violations[0]
    assert report.to_json()["safety_violations"] == len(report.violations)
    assert report.config.replay_command() == (
        "shopchain sim --validators 4 --byzantine 2 --strategy equivocate --seed 1 --duration 4")


def test_the_cli_prints_the_replay_command_and_fails():
    result = CliRunner().invoke(main, ["sim", "--validators", "4", "--byzantine", "2", "--strategy", "equivocate",
                                       "--seed", "1", "--duration", "4", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[0])["safety_violations"] > 0
    command = "shopchain sim --validators 4 --byzantine 2 --strategy equivocate --seed 1 --duration 4"
    assert f"replay with: {command}" in result.stderr
    again = CliRunner().invoke(main, command.split()[1:] + ["--json"])
    assert json.loads(again.stdout.splitlines()[0])["trace_hash"] == json.loads(result.stdout.splitlines()[0])["trace_hash"]


def test_f_equivocators_are_harmless_at_the_same_seed():
    report = run(SimConfig(**{**BROKEN, "byzantine": 1}))
    assert report.violations == [] and report.liveness_ok


def test_the_signature_cache_never_turns_a_bad_signature_good():
    simulation = Simulation(SimConfig(seed=1, duration_ms=1_000))
    verify = simulation.verifier
    assert simulation.settings.verifier is verify
    vote = sign_vote(KeyPair(b"\1" * 32), "c", "prepare", 1, 0, b"\2" * 32)
    forged = type(vote)(vote.phase, vote.height, vote.view, b"\3" * 32, vote.validator, vote.signature)
    assert vote.verify("c", verify=verify) and vote.verify("c", verify=verify)
    assert not forged.verify("c", verify=verify) and not forged.verify("c", verify=verify)


SIGNERS = [KeyPair(bytes([i]) * 32) for i in range(1, 4)]


@given(st.lists(st.tuples(st.sampled_from(range(len(SIGNERS))), st.sampled_from(range(len(SIGNERS))), st.binary(max_size=2),
                          st.sampled_from(["own", "other message", "noise", "short"]), st.binary(min_size=64, max_size=64)),
                max_size=40))
def test_the_signature_cache_answers_as_verify_signature(checks):
    verifier = SignatureVerifier(3)     # small: the cache fills and clears during a run
    for holder, signer, message, how, noise in checks:
        key = SIGNERS[signer]
        signature = {"own": key.sign(message), "other message": key.sign(message + b"!"), "noise": noise,
                     "short": noise[:63]}[how]
        public_key = SIGNERS[holder].public_key
        for _ in range(2):      # the second answer may come from the cache
            assert verifier(public_key, message, signature) == verify_signature(public_key, message, signature)
        assert len(verifier) <= 3


def test_the_double_sign_check_reports_an_honest_replica_signing_twice():
    from consensus import encode_message
    simulation = Simulation(SimConfig(seed=1, duration_ms=1_000))
    key, chain_id = simulation.world.validator_keys[0], simulation.chain_id
    first = encode_message(sign_vote(key, chain_id, "prepare", 9, 2, b"\1" * 32))
    simulation.check_own_vote(0, first)
    simulation.check_own_vote(0, first)     # sent again (a resend): the same vote
    simulation.check_own_vote(0, encode_message(sign_vote(key, chain_id, "commit", 9, 2, b"\2" * 32)))
    assert simulation.violations == []
    simulation.check_own_vote(0, encode_message(sign_vote(key, chain_id, "prepare", 9, 2, b"\3" * 32)))
    assert len(simulation.violations) == 1 and "signed two prepare votes at height 9 view 2" in simulation.violations[0]


def test_honest_replicas_that_crash_after_persisting_never_sign_twice():
    """Many crashes in the window between writing the sign state and sending:
    the double-sign check runs on every vote an honest replica sends."""
    simulation = Simulation(SimConfig(validators=4, seed=3, duration_ms=10_000, crash_after_persist=0.2, drop=0.05))
    report = simulation.run()
    assert report.violations == [] and report.liveness_ok
    assert len(simulation.signed_votes) > 100 and simulation.crashes >= 5
