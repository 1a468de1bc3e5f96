"""The node core, driven directly with a recording host and a worker the test
releases job by job: the sync/commit race, forks, and signing after a wipe."""
from __future__ import annotations

import dataclasses
from collections import deque
from typing import Callable

import pytest

from chain.constants import PHASE_COMMIT, PHASE_PREPARE
from chain.genesis import Genesis, genesis_from_document
from chain.transaction import TransactionDecoder, build_transaction
from chain.votes import Vote, sign_vote
from commerce.executor import get_nonce
from commerce.records import get_param
from consensus.messages import decode_message, encode_message, sign_proposal
from consensus.sign_state import HeightSigns, SignState
from node.application import ChainApplication
from node.config import ConfigError
from node.core import TIMER_EARLY_PROPOSE, TIMER_SYNC, CoreSettings, NodeCore, encode_status, frame_bytes_needed
from node.errors import RequestRejected
from node.mempool import Mempool, MempoolLimits
from node.sign_state_file import SignStateFile
from p2p.sync import (CertifiedBlock, certified_block_bytes_max, decode_sync_request, decode_sync_response, encode_sync_request,
                      encode_sync_response)
from p2p.wire import KIND_CONSENSUS, KIND_STATUS, KIND_SYNC_REQUEST, KIND_SYNC_RESPONSE
from storage.blockstore import BlockStore
from storage.memory import MemoryStore
from tests.factories import certify, seeded_key, validator_keys

KEYS = validator_keys(4)
GENESIS = genesis_from_document({
    "chain_id": "shopchain-core", "genesis_time_ms": 1_767_225_600_000,
    "validators": [key.address for key in KEYS], "admins": [seeded_key("admin").address],
    "treasury": seeded_key("treasury").address, "allocations": [],
})
ADMIN = seeded_key("admin")
T0 = GENESIS.genesis_time_ms
FRAME_BYTES_MAX = 16 * 1024 * 1024   # p2p.frame_bytes_max's default
VALIDATORS = GENESIS.validators
SETTINGS = CoreSettings(view_timeout_ms=4000, empty_block_interval_ms=1000, max_clock_drift_ms=2000,
                        max_message_bytes=FRAME_BYTES_MAX, resend_ms=0)
PEER = KEYS[1].public_key


class Host:
    def __init__(self) -> None:
        self.now = T0 + 60_000
        self.sent: list[tuple[bytes | None, str, bytes]] = []
        self.sign_state: bytes | None = None
        self.halted: str | None = None
        self.timers: list[tuple[str, int]] = []

    def now_ms(self) -> int:
        return self.now

    def monotonic_ms(self) -> int:
        return self.now

    def set_timer(self, name: str, delay_ms: int) -> None:
        self.timers.append((name, delay_ms))

    def early_proposals(self) -> list[int]:
        """The delays the core asked the early-propose timer for, in order."""
        return [delay for name, delay in self.timers if name == TIMER_EARLY_PROPOSE]

    def send(self, peer: bytes, kind: str, payload: bytes) -> None:
        self.sent.append((peer, kind, payload))

    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> None:
        self.sent.append((None, kind, payload))

    def write_sign_state(self, state: bytes) -> None:
        self.sign_state = state

    def halt(self, reason: str) -> None:
        self.halted = reason

    def votes(self, phase: str, height: int) -> set[bytes]:
        out = set()
        for _, kind, payload in self.sent:
            if kind == KIND_CONSENSUS:
                message = decode_message(payload, len(VALIDATORS), 1 << 22)
                if isinstance(message, Vote) and (message.phase, message.height) == (phase, height):
                    out.add(message.block_hash)
        return out


class HeldWorker:
    """Jobs wait until the test runs them, as on a busy worker thread."""

    def __init__(self) -> None:
        self.jobs: deque[tuple[Callable, Callable]] = deque()

    def run(self, job: Callable, done: Callable) -> None:
        self.jobs.append((job, done))

    def drain(self) -> None:
        while self.jobs:
            job, done = self.jobs.popleft()
            done(job())


def new_core(me: int = 0, store: BlockStore | None = None, sign_state: bytes | None = None,
             host: Host | None = None, settings: CoreSettings = SETTINGS,
             genesis: Genesis = GENESIS) -> tuple[NodeCore, Host, HeldWorker]:
    store = store or BlockStore(MemoryStore())
    mempool = Mempool(MempoolLimits(), lambda sender: get_nonce(store.state(), sender),
                      lambda: get_param(store.state(), "tx_bytes_max"),
                      TransactionDecoder(genesis.chain_id))
    host = host or Host()
    if sign_state is None:
        sign_state = SignState(genesis.chain_id, KEYS[me].public_key).encode()
    worker = HeldWorker()
    core = NodeCore(genesis, KEYS[me], store, ChainApplication(store, genesis), mempool,
                    SignState.decode(sign_state), settings, host, worker)
    core.start()
    worker.drain()
    return core, host, worker


def chain(length: int, tag: int = 0, txs: tuple = ()) -> list[CertifiedBlock]:
    """Certified blocks built by the real application, empty but for ``txs``
    in the first; ``tag`` varies the times."""
    app = ChainApplication(BlockStore(MemoryStore()), GENESIS)
    out = []
    for height in range(1, length + 1):
        block = app.build_block(height, app.store.last_block_hash(), T0 + height * 1000 + tag, VALIDATORS.primary(height, 0),
                                (), txs if height == 1 else ())
        certificate = certify(block, KEYS, VALIDATORS, GENESIS.chain_id)
        app.persist_block(block, certificate)
        out.append(CertifiedBlock(block, certificate))
    return out


def serve_sync(core: NodeCore, host: Host, worker: HeldWorker, blocks: list[CertifiedBlock]) -> None:
    """PEER claims the blocks' height, the core asks, PEER answers."""
    core.on_message(PEER, KIND_STATUS, encode_status(blocks[-1].height))
    request = [payload for peer, kind, payload in host.sent if kind == KIND_SYNC_REQUEST][-1]
    from_height, count = decode_sync_request(request)
    core.on_message(PEER, KIND_SYNC_RESPONSE, encode_sync_response(blocks[from_height - 1:from_height - 1 + count], FRAME_BYTES_MAX))


def vote(key_index: int, phase: str, height: int, block_hash: bytes, view: int = 0) -> bytes:
    return encode_message(sign_vote(KEYS[key_index], GENESIS.chain_id, phase, height, view, block_hash))


def propose(block) -> bytes:
    primary = KEYS[[key.public_key for key in KEYS].index(block.header.proposer)]
    return encode_message(sign_proposal(primary, GENESIS.chain_id, block.height, 0, block))


def test_a_block_committed_by_sync_and_then_by_consensus_commits_once():
    """Block 1 arrives by sync and waits behind a busy worker; a quorum of
    COMMITs then makes the replica emit its own Commit(1) behind it. The
    second is a no-op, not a halt."""
    core, host, worker = new_core(me=0)
    [one] = chain(1)
    core.on_message(PEER, KIND_CONSENSUS, propose(one.block))   # Execute waits on the worker
    serve_sync(core, host, worker, [one])                        # queued behind it
    for signer in (1, 2, 3):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_COMMIT, 1, one.block.hash()))
    worker.drain()
    assert host.halted is None
    assert core.store.last_height() == 1 and core.store.block_by_height(1).hash() == one.block.hash()
    assert core.replica.height == 2


def test_each_worker_step_is_reported_with_the_time_it_took():
    """What ``shopchain_step_seconds`` and ``shopchain_last_commit_seconds``
    are made of: each slow step, from its hand-off to its result back."""
    core, host, worker = new_core(me=0)
    steps: list[tuple[str, float]] = []
    core.on_step.append(lambda step, elapsed_ms: steps.append((step, elapsed_ms)))
    [one] = chain(1)
    took = iter([5, 1, 2, 11])

    def run_held_jobs() -> None:
        while worker.jobs:
            job, done = worker.jobs.popleft()
            host.now += next(took)
            done(job())

    core.on_message(PEER, KIND_CONSENSUS, propose(one.block))
    for signer in (1, 2, 3):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_PREPARE, 1, one.block.hash()))
    run_held_jobs()
    for signer in (1, 2, 3):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_COMMIT, 1, one.block.hash()))
    run_held_jobs()
    assert steps == [("validate", 5), ("sign_state", 1), ("sign_state", 2), ("persist", 11)]
    assert core.store.last_height() == 1


def test_a_step_that_fails_is_not_reported_as_done():
    """A failed write halts the node; it is not the last commit's time."""
    core, host, worker = new_core(me=0)
    steps: list[tuple[str, float]] = []
    core.on_step.append(lambda step, elapsed_ms: steps.append((step, elapsed_ms)))
    [one] = chain(1)

    def failing_write(*args, **kwargs):
        raise OSError("disk full")

    core.app.persist_block = failing_write
    serve_sync(core, host, worker, [one])
    worker.drain()
    assert host.halted is not None and "disk full" in host.halted
    assert steps == []


def full_block_txs(first_nonce: int = 1) -> list:
    """Transactions of exactly the genesis block_bytes_max, each of tx_bytes_max (a trace correction any
    account holder can send; it fails in the block, which still carries it)."""
    txs = []
    per_block = GENESIS.params["block_bytes_max"] // GENESIS.params["tx_bytes_max"]
    for nonce in range(first_nonce, first_nonce + per_block):
        pad = GENESIS.params["tx_bytes_max"] - 400
        while True:
            tx = build_transaction(ADMIN, GENESIS.chain_id, nonce, "trace.correct",
                                   {"subject": "x" * pad, "event": 0, "reason": "r", "data_hash": bytes(32)})
            if len(tx.raw) == GENESIS.params["tx_bytes_max"]:
                break
            pad += GENESIS.params["tx_bytes_max"] - len(tx.raw)
        txs.append(tx)
    return txs


class FileHost(Host):
    """Writes the sign_state to a real file, as the node does."""

    def __init__(self, file: SignStateFile) -> None:
        super().__init__()
        self.file = file

    def write_sign_state(self, state: bytes) -> None:
        self.file.write(state)


def test_two_full_blocks_in_a_row_are_voted_for_and_committed(tmp_path):
    """The validator's sign_state then holds both prepared blocks (over 8 MiB):
    it was refused as damaged at the second COMMIT, and every validator halted."""
    builder = ChainApplication(BlockStore(MemoryStore()), GENESIS)
    me = next(index for index, key in enumerate(KEYS) if key.public_key not in {VALIDATORS.primary(h, 0) for h in (1, 2)})
    others = [index for index in range(4) if index != me]
    file = SignStateFile(tmp_path / "sign_state", GENESIS.chain_id, KEYS[me].public_key)
    file.create()
    core, host, worker = new_core(me=me, host=FileHost(file))
    for height in (1, 2):
        block = builder.build_block(height, builder.store.last_block_hash(), T0 + height * 1000, VALIDATORS.primary(height, 0),
                                    (), full_block_txs(first_nonce=64 * (height - 1) + 1))
        builder.persist_block(block, certify(block, KEYS, VALIDATORS, GENESIS.chain_id))
        assert sum(map(len, block.txs)) == GENESIS.params["block_bytes_max"]
        core.on_message(KEYS[others[0]].public_key, KIND_CONSENSUS, propose(block))
        worker.drain()
        for phase in (PHASE_PREPARE, PHASE_COMMIT):
            for signer in others[:2]:
                core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, phase, height, block.hash()))
            worker.drain()
        assert host.halted is None and core.committed_height == height
    assert file.read().floor == 2


def test_a_full_block_arrives_by_sync_and_commits():
    """Its encoding is larger than block_bytes_max (the header and each
    transaction's framing): sync decodes it within the frame, as a proposal is."""
    [full] = chain(1, txs=tuple(full_block_txs()))
    assert sum(map(len, full.block.txs)) == GENESIS.params["block_bytes_max"] < len(full.block.encode())
    core, host, worker = new_core(me=0)
    serve_sync(core, host, worker, [full])
    worker.drain()
    assert host.halted is None and core.store.last_height() == 1
    assert core.store.block_by_height(1).hash() == full.block.hash()


def test_a_lowered_tx_bytes_max_empties_the_mempool_of_what_no_block_can_carry():
    """params.update lowers tx_bytes_max while a larger transaction waits: the
    mempool drops it at the commit and refuses its like after, so the primary
    builds a valid block instead of halting on block.tx_too_large."""
    lower = build_transaction(ADMIN, GENESIS.chain_id, 1, "params.update", {"name": "tx_bytes_max", "value": 1024})
    [one] = chain(1, txs=(lower,))
    me = [key.public_key for key in KEYS].index(VALIDATORS.primary(2, 0))
    core, host, worker = new_core(me=me)
    others = [key for index, key in enumerate(KEYS) if index != me]    # a certificate without our own COMMIT
    one = CertifiedBlock(one.block, certify(one.block, others, VALIDATORS, GENESIS.chain_id))
    large = [build_transaction(ADMIN, GENESIS.chain_id, nonce, "trace.correct",
                               {"subject": "x" * 2000, "event": 0, "reason": "r", "data_hash": bytes(32)}) for nonce in (2, 3)]
    core.submit(large[0].raw)             # under the cap the chain has so far
    assert large[0].id in core.mempool
    serve_sync(core, host, worker, [one])
    worker.drain()
    assert core.committed_height == 1 and core.app.param("tx_bytes_max") == 1024
    assert len(core.mempool) == 0
    with pytest.raises(RequestRejected) as refused:
        core.submit(large[1].raw)
    assert refused.value.code == "tx.too_large"
    small = build_transaction(ADMIN, GENESIS.chain_id, 2, "funds.mint", {"to": ADMIN.address, "amount": 5})
    core.submit(small.raw)
    core.on_timer(TIMER_EARLY_PROPOSE)
    worker.drain()
    assert host.halted is None
    proposals = [decode_message(payload, 4, FRAME_BYTES_MAX) for _, kind, payload in host.sent if kind == KIND_CONSENSUS]
    assert any(getattr(message, "block", None) is not None and message.block.txs == (small.raw,) for message in proposals)


def test_a_peer_serving_only_the_top_of_each_range_cannot_hold_sync():
    """The peer ranked first (lowest key) answers each request with the last
    block asked for only; the node still reaches the height an honest peer serves."""
    blocks = chain(40)
    core, host, worker = new_core(me=0)
    byzantine, honest = sorted([KEYS[1].public_key, KEYS[2].public_key])
    for peer in (byzantine, honest):
        core.on_message(peer, KIND_STATUS, encode_status(40))
    for _ in range(50):
        requests = [(peer, decode_sync_request(payload)) for peer, kind, payload in host.sent if kind == KIND_SYNC_REQUEST]
        host.sent.clear()
        if core.committed_height == 40:
            break
        if not requests:
            host.now += SETTINGS.sync_tick_ms
            core.on_timer(TIMER_SYNC)
        for peer, (start, count) in requests:
            asked = blocks[start - 1:start - 1 + count]
            core.on_message(peer, KIND_SYNC_RESPONSE, encode_sync_response(asked[-1:] if peer == byzantine else asked,
                                                                            FRAME_BYTES_MAX))
            worker.drain()
    assert core.committed_height == 40 and host.halted is None


def test_a_request_for_more_than_this_nodes_batch_gets_its_batch():
    """A node configured with a larger p2p.sync_batch_blocks syncs from this one."""
    core, host, worker = new_core(me=3)
    serve_sync(core, host, worker, chain(20))
    worker.drain()
    host.sent.clear()
    core.on_message(KEYS[1].public_key, KIND_SYNC_REQUEST, encode_sync_request(1, 2 * SETTINGS.sync_batch_blocks))
    [(peer, kind, payload)] = host.sent
    assert (peer, kind) == (KEYS[1].public_key, KIND_SYNC_RESPONSE)
    assert len(decode_sync_response(payload, FRAME_BYTES_MAX, SETTINGS.sync_batch_blocks)) == SETTINGS.sync_batch_blocks


def test_sync_answers_to_one_peer_stop_at_its_budget_and_resume_as_it_refills():
    """A 20-byte request asks for a frame of full blocks: a peer draws at
    most its budget, two frames saved up, then what refills."""
    frame = frame_bytes_needed(GENESIS.params["block_bytes_max"], GENESIS.params["block_txs_max"], 4)
    settings = dataclasses.replace(SETTINGS, sync_serve_bytes_per_s=10_000, max_message_bytes=frame)
    core, host, worker = new_core(me=3, settings=settings)
    blocks = chain(1, txs=tuple(full_block_txs()))
    serve_sync(core, host, worker, blocks)
    worker.drain()
    asker = KEYS[1].public_key

    def answers(requests: int) -> int:
        host.sent.clear()
        for _ in range(requests):
            core.on_message(asker, KIND_SYNC_REQUEST, encode_sync_request(1, 1))
        return sum(1 for _, kind, _ in host.sent if kind == KIND_SYNC_RESPONSE)

    answer_bytes = len(encode_sync_response(blocks, frame))
    assert answers(10) == -(-2 * frame // answer_bytes) == 3    # two frames saved, the last answer into debt
    assert answers(10) == 0
    host.now += 1000 * (3 * answer_bytes - 2 * frame) // 10_000 + 1000   # the debt repaid and some to spare
    assert answers(10) == 1
    core.on_peer_disconnected(asker)                             # a new connection starts with a full budget
    assert answers(2) == 2


def test_a_sync_answer_nobody_asked_for_is_dropped_before_it_is_decoded():
    core, host, worker = new_core(me=0)
    blocks = chain(2)
    core.on_message(PEER, KIND_SYNC_RESPONSE, b"\xc1 not even msgpack")      # no PeerError: never read
    core.on_message(PEER, KIND_SYNC_RESPONSE, encode_sync_response(blocks, FRAME_BYTES_MAX))
    worker.drain()
    assert core.committed_height == 0 and host.halted is None
    serve_sync(core, host, worker, blocks)                                  # asked, then answered: taken
    worker.drain()
    assert core.committed_height == 2


def test_a_different_certified_block_at_a_committed_height_halts_with_both_certificates():
    core, host, worker = new_core(me=0)
    [one] = chain(1)
    [other] = chain(1, tag=7)
    core.on_message(PEER, KIND_CONSENSUS, propose(one.block))
    serve_sync(core, host, worker, [other])
    for signer in (1, 2, 3):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_COMMIT, 1, one.block.hash()))
    worker.drain()
    assert host.halted is not None and "fork at height 1" in host.halted
    held = core.store.certificate(1)
    assert held.encode().hex() in host.halted                      # the certificate this node committed by
    assert one.block.hash().hex() in host.halted and other.block.hash().hex() in host.halted
    assert host.halted.count("certificate ") >= 2
    assert core.store.last_height() == 1


def test_a_wiped_validator_never_signs_a_conflicting_block_at_a_height_it_voted_in():
    """Signs PREPARE and COMMIT for A at (4, 0), loses data/ (keeps sign_state),
    syncs 1-3, is offered B at (4, 0): it signs nothing for B."""
    history = chain(3)
    me = 3                                        # not the primary of (4, 0)
    core, host, worker = new_core(me=me)
    serve_sync(core, host, worker, history)
    worker.drain()
    assert core.store.last_height() == 3
    app = ChainApplication(core.store, GENESIS)
    block_a = app.build_block(4, core.store.last_block_hash(), T0 + 5000, VALIDATORS.primary(4, 0), (), ())
    block_b = app.build_block(4, core.store.last_block_hash(), T0 + 5001, VALIDATORS.primary(4, 0), (), ())
    core.on_message(PEER, KIND_CONSENSUS, propose(block_a))
    worker.drain()
    for signer in (0, 1):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_PREPARE, 4, block_a.hash()))
    worker.drain()
    assert host.votes(PHASE_PREPARE, 4) == host.votes(PHASE_COMMIT, 4) == {block_a.hash()}

    wiped, host2, worker2 = new_core(me=me, sign_state=host.sign_state)
    host2.sign_state = host.sign_state
    serve_sync(wiped, host2, worker2, history)
    worker2.drain()
    assert wiped.store.last_height() == 3 and wiped.replica.height == 4
    wiped.on_message(PEER, KIND_CONSENSUS, propose(block_b))
    worker2.drain()
    for signer in (0, 1):
        wiped.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_PREPARE, 4, block_b.hash()))
    worker2.drain()
    assert host2.votes(PHASE_PREPARE, 4) == set() and host2.votes(PHASE_COMMIT, 4) == set()
    assert SignState.decode(host2.sign_state).record(4).prepare == (0, block_a.hash())


def test_a_validator_without_its_sign_state_abstains_until_a_newer_block_commits():
    history = chain(3)
    me = 3
    host = Host()
    store = BlockStore(MemoryStore())
    mempool = Mempool(MempoolLimits(), lambda sender: get_nonce(store.state(), sender),
                      lambda: get_param(store.state(), "tx_bytes_max"),
                      TransactionDecoder(GENESIS.chain_id))
    worker = HeldWorker()
    core = NodeCore(GENESIS, KEYS[me], store, ChainApplication(store, GENESIS), mempool, None, SETTINGS, host, worker)
    core.start()
    serve_sync(core, host, worker, history)      # blocks older than its start: still abstaining
    worker.drain()
    app = ChainApplication(store, GENESIS)
    block = app.build_block(4, store.last_block_hash(), host.now + 1, VALIDATORS.primary(4, 0), (), ())
    core.on_message(PEER, KIND_CONSENSUS, propose(block))
    worker.drain()
    assert host.votes(PHASE_PREPARE, 4) == set()
    host.now += 10 * SETTINGS.max_clock_drift_ms
    for signer in (0, 1, 2):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_PREPARE, 4, block.hash()))
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_COMMIT, 4, block.hash()))
    worker.drain()
    assert store.last_height() == 4 and host.votes(PHASE_COMMIT, 4) == set()
    assert not core.replica.may_sign()             # block 4's time is within the margin after the start
    block5 = app.build_block(5, store.last_block_hash(), host.now, VALIDATORS.primary(5, 0), (), ())
    core.on_message(PEER, KIND_CONSENSUS, propose(block5))
    worker.drain()
    for signer in (0, 1, 2):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_COMMIT, 5, block5.hash()))
    worker.drain()
    assert host.votes(PHASE_PREPARE, 5) == set()
    assert store.last_height() == 5 and core.replica.height == 6
    assert core.replica.may_sign()                 # block 5 was proposed after the start: it votes from 6 on


def test_an_older_copy_of_sign_state_shown_up_by_sync_stops_signing_until_the_chain_has_passed():
    """The file says the validator signed up to height 1; the synced
    certificates of 2 and 3 hold its COMMIT: the file is an older copy put
    back, so what it signed at 4 is unknown too."""
    history = chain(3)
    me = 2                                        # a signer of the certificates chain() makes
    assert any(signer == KEYS[me].public_key for signer, _ in history[1].certificate.signatures)
    older = SignState(GENESIS.chain_id, KEYS[me].public_key).with_record(HeightSigns(1, prepare=(0, history[0].block.hash())))
    core, host, worker = new_core(me=me, sign_state=older.encode())
    assert core.replica.may_sign()
    serve_sync(core, host, worker, history)
    worker.drain()
    assert core.store.last_height() == 3 and core.replica.stale_sign_state_at == 2
    app = ChainApplication(core.store, GENESIS)
    block = app.build_block(4, core.store.last_block_hash(), host.now + 1, VALIDATORS.primary(4, 0), (), ())
    core.on_message(PEER, KIND_CONSENSUS, propose(block))
    for signer in (0, 1, 3):
        core.on_message(KEYS[signer].public_key, KIND_CONSENSUS, vote(signer, PHASE_PREPARE, 4, block.hash()))
    worker.drain()
    assert host.votes(PHASE_PREPARE, 4) == set() and host.votes(PHASE_COMMIT, 4) == set()
    assert not core.replica.may_sign()


def test_blocks_queued_behind_a_slow_commit_are_not_fetched_again():
    history = chain(6)
    core, host, worker = new_core(me=3)
    serve_sync(core, host, worker, history)       # 1..6 verified and queued; the worker holds the first persist
    assert core.store.last_height() == 0 and worker.jobs
    host.sent.clear()
    host.now += 10 * SETTINGS.sync_request_timeout_ms
    core.on_timer(TIMER_SYNC)
    assert [decode_sync_request(payload) for _, kind, payload in host.sent
            if kind == KIND_SYNC_REQUEST] == []
    worker.drain()
    assert core.store.last_height() == 6


def test_a_declared_sign_state_signs_from_its_height_and_never_below():
    declared = SignState.declared(GENESIS.chain_id, KEYS[0].public_key, 7)
    assert [height for height in range(1, 10) if declared.may_sign_at(height)] == [7, 8, 9]
    assert declared.record(7) is None and SignState.decode(declared.encode()) == declared
    with pytest.raises(ValueError):
        SignState.declared(GENESIS.chain_id, KEYS[0].public_key, 0)


def test_a_frame_cap_below_one_certified_block_is_refused_at_start():
    small = dataclasses.replace(SETTINGS, max_message_bytes=GENESIS.params["block_bytes_max"])
    with pytest.raises(ConfigError) as refused:
        new_core(settings=small)
    assert refused.value.code == "config.frame_too_small"
    needed = frame_bytes_needed(GENESIS.params["block_bytes_max"], GENESIS.params["block_txs_max"], 4)
    assert needed >= certified_block_bytes_max(GENESIS.params["block_bytes_max"], GENESIS.params["block_txs_max"], 4)
    assert f"at least {needed}" in refused.value.message
    new_core(settings=dataclasses.replace(SETTINGS, max_message_bytes=needed))


def mint(nonce: int):
    return build_transaction(ADMIN, GENESIS.chain_id, nonce, "funds.mint", {"to": KEYS[0].address, "amount": 1})


def primary_at(height: int) -> int:
    return [key.public_key for key in KEYS].index(VALIDATORS.primary(height, 0))


def test_the_first_transaction_after_a_quiet_spell_waits_the_batching_delay_once_a_height():
    core, host, worker = new_core(me=primary_at(1))
    core.submit(mint(1).raw)
    core.submit(mint(2).raw)
    assert host.early_proposals() == [SETTINGS.propose_batch_ms]
    core.on_timer(TIMER_EARLY_PROPOSE)
    worker.drain()
    core.submit(mint(3).raw)
    assert host.early_proposals() == [SETTINGS.propose_batch_ms], "armed again at a height it already proposed at"


def test_a_primary_proposes_at_once_after_a_block_that_carried_transactions():
    me = primary_at(2)
    core, host, worker = new_core(me=me)
    core.submit(mint(2).raw)                      # waits for nonce 1, which block 1 carries
    serve_sync(core, host, worker, chain(2, txs=(mint(1),))[:1])
    worker.drain()
    assert core.store.last_height() == 1 and core.replica.height == 2 and core.replica.primary == KEYS[me].public_key
    assert host.early_proposals() == [0]


def test_after_an_empty_block_a_waiting_transaction_gets_the_batching_delay():
    me = primary_at(2)
    core, host, worker = new_core(me=me)
    core.submit(mint(1).raw)
    serve_sync(core, host, worker, chain(1))
    worker.drain()
    assert core.replica.height == 2
    assert host.early_proposals() == [SETTINGS.propose_batch_ms]


def test_a_full_block_waiting_brings_the_proposal_forward():
    small = genesis_from_document({**GENESIS.document, "params": {"block_txs_max": 2}})
    core, host, worker = new_core(me=primary_at(1), genesis=small)
    core.submit(build_transaction(ADMIN, small.chain_id, 1, "funds.mint", {"to": KEYS[0].address, "amount": 1}).raw)
    assert host.early_proposals() == [SETTINGS.propose_batch_ms]
    core.submit(build_transaction(ADMIN, small.chain_id, 2, "funds.mint", {"to": KEYS[0].address, "amount": 1}).raw)
    assert host.early_proposals() == [SETTINGS.propose_batch_ms, 0]


def test_a_committed_params_update_retimes_the_replica():
    """params.update moves view_timeout_ms and empty_block_interval_ms: from
    the commit on the replica's timers use the committed values (the node
    used to keep the genesis ones for as long as it ran)."""
    updates = [build_transaction(ADMIN, GENESIS.chain_id, nonce, "params.update", {"name": name, "value": value})
               for nonce, (name, value) in enumerate((("view_timeout_ms", 30_000), ("empty_block_interval_ms", 1_500)), 1)]
    [one] = chain(1, txs=tuple(updates))
    core, host, worker = new_core(me=0)
    host.timers.clear()
    serve_sync(core, host, worker, [one])
    worker.drain()
    assert core.committed_height == 1 and host.halted is None
    assert (core.replica.config.view_timeout_ms, core.replica.config.empty_block_interval_ms) == (30_000, 1_500)
    assert core.settings.view_timeout_ms == 30_000
    assert ("view", 30_000) in host.timers and ("view", SETTINGS.view_timeout_ms) not in host.timers
