"""The node's six input surfaces, each with a corpus of valid seeds built by the
project's own code and a check of its contract.

A binary surface (transactions, consensus messages, sync responses, p2p
frames and handshake) must answer every input with a value or with its typed
error; a JSON surface (JSON-RPC bodies, websocket messages) must answer
every input with a JSON document and never with -32603 (internal error: a
bug). ``Surface.outcome`` runs one input and names what happened (the typed
error's code, or ``accepted``); it raises AssertionError, naming the input,
on anything else.
"""
from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from chain.encoding import pack
from chain.errors import CodedError, TransactionError
from chain.signing import sign_fields
from chain.transaction import TX_BYTES_MAX_DEFAULT, build_transaction, decode_transaction
from chain.validators import ValidatorSet
from chain.votes import sign_vote
from consensus.messages import (
    CertificateMessage, ConsensusError, Evidence, PreparedCertificate, decode_message as decode_consensus,
    encode_message as encode_consensus, sign_new_view, sign_proposal, sign_view_change,
)
from p2p.errors import PeerError
from p2p.secure_channel import Handshake
from p2p.sync import CertifiedBlock, decode_sync_response, encode_sync_response, verify_certified_block
from p2p.wire import (KIND_CONSENSUS, KIND_STATUS, KIND_SYNC_REQUEST, KIND_TXS, decode_message as decode_wire, decode_tx_batch,
                      encode_message, encode_tx_batch)
from tests.factories import CHAIN_ID, certified_chain, seeded_key, validator_keys
from tests.fuzz.mutate import Mutator

ACCEPTED = "accepted"
NOTIFICATION = "notification"
INTERNAL_ERROR = -32603
PREVIEW_BYTES = 48
# Production limits (node/config.py, p2p/network.py, chain/genesis.py): the
# fuzzed targets see the caps a running node gives them.
FRAME_BYTES_MAX = 16 * 1024 * 1024
SYNC_COUNT_MAX = 16
BLOCK_BYTES_MAX = 4 * 1024 * 1024
RPC_BATCH_MAX = 100
RPC_PAGE_SIZE_MAX = 100
WS_SUBSCRIPTIONS_MAX = 64
JSON_INPUT_BYTES_MAX = 256 * 1024
BINARY_INPUT_BYTES_MAX = 96 * 1024


_INNER_CODE = re.compile(r"\(([a-z][a-z_]*\.[a-z_.]+)\)")


def coded(error: CodedError) -> str:
    """An error's code, with the inner code its message names when it wraps
    one (``sync.bad_block/cert.no_quorum``): the outcome shows how deep the input got."""
    inner = _INNER_CODE.search(error.message)
    return f"{error.code}/{inner.group(1)}" if inner else error.code


def preview(data: bytes) -> str:
    """The input as hex, truncated for messages."""
    if len(data) <= PREVIEW_BYTES:
        return data.hex()
    return f"{data[:PREVIEW_BYTES].hex()}... ({len(data)} bytes)"


@dataclass
class Surface:
    """One input surface: its seeds, the typed error it may raise, and its check.

    ``run`` takes one input and returns the code of the typed error the
    target raised, or ``accepted`` (after checking what it accepted); any
    other exception escapes it, and so does an AssertionError of a broken
    contract. ``regressions`` are inputs that once broke the contract: every
    run replays them after the seeds. ``vocabulary`` (JSON surfaces only)
    feeds the JSON-aware mutations; ``prefix_bytes`` is the length of a
    selector before the MessagePack (p2p's mode byte); ``closers`` release
    what the surface holds (event loops)."""

    name: str
    typed_error: str
    seeds: list[bytes]
    run: Callable[[bytes], str]
    vocabulary: list[str] | None = None
    max_len: int = BINARY_INPUT_BYTES_MAX
    closers: list[Callable[[], None]] = field(default_factory=list)
    prefix_bytes: int = 0
    regressions: list[bytes] = field(default_factory=list)

    @property
    def fixed_inputs(self) -> list[bytes]:
        """What every run starts with: the seeds, then the regressions."""
        return self.seeds + self.regressions

    def mutator(self) -> Mutator:
        """Mutations of the valid seeds only: a regression input is a dead end already explored."""
        return Mutator(self.seeds, self.max_len, self.vocabulary, self.prefix_bytes)

    def outcome(self, data: bytes) -> str:
        """What the target did with ``data``; AssertionError on a contract break."""
        try:
            return self.run(data)
        except AssertionError as error:
            raise AssertionError(f"{self.name}: {error} on input {preview(data)}") from error
        except Exception as error:  # noqa: BLE001 - anything untyped is the finding
            raise AssertionError(
                f"{self.name}: {type(error).__module__}.{type(error).__qualname__} ({error}) instead of "
                f"{self.typed_error} on input {preview(data)}") from error

    def check(self, data: bytes) -> None:
        """Raise AssertionError unless the target meets its contract on ``data``."""
        self.outcome(data)

    def close(self) -> None:
        for closer in self.closers:
            closer()


# -- 1. transactions ------------------------------------------------------------------

def transaction_surface() -> Surface:
    sender, other = seeded_key("fuzz sender"), seeded_key("fuzz other")
    shipping = hashlib.sha256(b"address").digest()
    bodies = [
        ("funds.transfer", {"to": other.address, "amount": 1}),
        ("order.create", {"merchant": other.address, "items": [{"sku": "tea", "qty": 2}, {"sku": "mug", "qty": 1}],
                          "shipping_hash": shipping}),
        ("product.list", {"sku": "tea", "title": "Th\u00e9 vert", "price": 10_000, "stock": 7, "category": "food",
                          "attrs": {"color": "green", "origin": "Fujian"}}),
        ("coupon.issue", {"brand": "Acme", "content": "10 off", "discount": {"kind": "amount", "value": 1_000},
                          "price": 500, "total": 9, "valid_from": 1, "valid_until": 2**40, "serial_prefix": "ACME"}),
        ("account.register", {}),
        ("trace.record", {"subject": "a/b/c", "stage": "procurement", "location": "", "data_hash": shipping}),
    ]
    seeds = [build_transaction(sender, CHAIN_ID, nonce, kind, body).raw for nonce, (kind, body) in enumerate(bodies, 1)]
    seeds.append(build_transaction(sender, CHAIN_ID, 2**64 - 1, "funds.transfer", {"to": other.address, "amount": 2**63}).raw)
    seeds.append(build_transaction(other, "another-chain", 1, "funds.transfer", {"to": sender.address, "amount": 1}).raw)
    # Just under the default cap, so growing mutations cross it.
    seeds.append(build_transaction(sender, CHAIN_ID, 9, "product.list",
                                   {"title": "x" * (TX_BYTES_MAX_DEFAULT - 200)}).raw)

    def run(data: bytes) -> str:
        try:
            tx = decode_transaction(data, CHAIN_ID, TX_BYTES_MAX_DEFAULT)
        except TransactionError as error:
            return coded(error)
        assert tx.raw == data and tx.id == hashlib.sha256(data).hexdigest(), "an accepted transaction is not its own bytes"
        return ACCEPTED

    return Surface("tx", "chain.errors.TransactionError", seeds, run)


# -- 2. consensus messages --------------------------------------------------------------

def consensus_surface() -> Surface:
    keys = validator_keys(4)
    by_key = {key.public_key: key for key in keys}
    validators = ValidatorSet.of(key.public_key for key in keys)
    (block, certificate), (block2, _) = certified_chain(2, keys)
    block_hash = block.hash()

    def prepared(view: int) -> PreparedCertificate:
        votes = [sign_vote(key, CHAIN_ID, "prepare", 1, view, block_hash) for key in keys[:3]]
        return PreparedCertificate(1, view, block_hash, tuple((vote.validator, vote.signature) for vote in votes))

    view_changes = tuple(sign_view_change(key, CHAIN_ID, 1, 1, prepared(0), block) for key in keys[:3])
    primary = by_key[validators.primary(1, 1)]
    messages = [
        sign_proposal(by_key[validators.primary(1, 0)], CHAIN_ID, 1, 0, block),
        sign_proposal(by_key[validators.primary(2, 0)], CHAIN_ID, 2, 0, block2),
        sign_vote(keys[0], CHAIN_ID, "prepare", 1, 0, block_hash),
        sign_vote(keys[1], CHAIN_ID, "commit", 1, 0, block_hash),
        sign_view_change(keys[0], CHAIN_ID, 1, 1, prepared(0), block),
        sign_view_change(keys[1], CHAIN_ID, 1, 2, None, None),
        sign_new_view(primary, CHAIN_ID, 1, 1, view_changes, sign_proposal(primary, CHAIN_ID, 1, 1, block)),
        Evidence.of(sign_vote(keys[2], CHAIN_ID, "prepare", 1, 0, block_hash),
                    sign_vote(keys[2], CHAIN_ID, "prepare", 1, 0, block2.hash())),
        CertificateMessage(certificate),
    ]
    seeds = [encode_consensus(message) for message in messages]
    max_votes = len(validators)

    def run(data: bytes) -> str:
        try:
            message = decode_consensus(data, max_votes, FRAME_BYTES_MAX)
        except ConsensusError as error:
            return coded(error)
        assert encode_consensus(message) == data, "an accepted message does not encode back to its bytes"
        return ACCEPTED

    return Surface("consensus", "consensus.messages.ConsensusError", seeds, run)


# -- 3. sync responses --------------------------------------------------------------

def sync_surface() -> Surface:
    keys = validator_keys(4)
    validators = ValidatorSet.of(key.public_key for key in keys)
    chain = [CertifiedBlock(block, certificate) for block, certificate in certified_chain(3, keys)]
    seeds = [encode_sync_response(blocks, FRAME_BYTES_MAX) for blocks in (chain, chain[:1], chain[2:], [])]

    def run(data: bytes) -> str:
        try:
            pairs = decode_sync_response(data, FRAME_BYTES_MAX, SYNC_COUNT_MAX)
        except PeerError as error:
            return coded(error)
        verified, first_error = [], None
        for block_bytes, certificate_bytes in pairs:   # every pair, so one bad block does not hide the next
            try:
                verified.append(verify_certified_block(block_bytes, certificate_bytes, validators, CHAIN_ID, BLOCK_BYTES_MAX))
            except PeerError as error:
                first_error = first_error or coded(error)
        if first_error is not None:
            return first_error
        assert encode_sync_response(verified, FRAME_BYTES_MAX) == data, "an accepted response does not encode back to its bytes"
        return ACCEPTED

    return Surface("sync", "p2p.errors.PeerError", seeds, run)


# -- 4. p2p frames and handshake ----------------------------------------------------------

# The first byte of a p2p input picks what the rest is (modulo the count):
P2P_FRAME = 0            # a ciphertext for the session's receiver: open, then decode the wire message
P2P_PLAINTEXT = 1        # a wire message sealed by the peer's sender: it authenticates, then is decoded
P2P_HELLO = 2            # the peer's hello (its ephemeral key) given to a fresh handshake
P2P_AUTH_FRAME = 3       # the peer's encrypted auth message, after a valid hello
P2P_AUTH_PLAINTEXT = 4   # an auth message sealed with the peer's handshake key, so it authenticates
P2P_MODES = 5


def p2p_surface() -> Surface:
    alice_key, bob_key = seeded_key("alice"), seeded_key("bob")
    alice_address, bob_address = "127.0.0.1:7001", "127.0.0.1:7002"
    alice_seed, bob_seed = hashlib.sha256(b"ephemeral alice").digest(), hashlib.sha256(b"ephemeral bob").digest()

    def alice() -> Handshake:
        return Handshake(alice_key, CHAIN_ID, alice_address, alice_seed)

    def bob() -> Handshake:
        return Handshake(bob_key, CHAIN_ID, bob_address, bob_seed)

    alice_side, bob_side = alice(), bob()
    alice_hello, bob_hello = alice_side.hello(), bob_side.hello()
    # A cipher as alice holds it before she seals her auth message (frame 0),
    # as tests/p2p/test_secure_channel.py's forger does.
    alice_auth_sender = alice()._derive_ciphers(bob_hello)[0]
    alice_auth = alice_side.on_hello(bob_hello)
    bob_auth = bob_side.on_hello(alice_hello)
    alice_session, bob_session = alice_side.on_auth(bob_auth), bob_side.on_auth(alice_auth)
    # Both ciphers stand at the first frame after the handshake; each input gets copies.
    sender, receiver = alice_session.sender, bob_session.receiver

    def first_frame(plaintext: bytes) -> bytes:
        return copy.copy(sender).seal(plaintext)

    def open_and_decode(frame: bytes) -> str:
        plaintext = copy.copy(receiver).open(frame)
        kind, payload = decode_wire(plaintext, FRAME_BYTES_MAX)
        assert encode_message(kind, payload) == plaintext, "an accepted message does not encode back to its bytes"
        if kind == KIND_TXS:
            assert encode_tx_batch(decode_tx_batch(payload)) == payload, "an accepted batch does not encode back to its bytes"
        return ACCEPTED

    def bob_after_hello() -> Handshake:
        handshake = bob()
        handshake.on_hello(alice_hello)
        return handshake

    def run(data: bytes) -> str:
        mode, rest = (data[0] % P2P_MODES, data[1:]) if data else (P2P_FRAME, b"")
        try:
            if mode == P2P_FRAME:
                return open_and_decode(rest)
            if mode == P2P_PLAINTEXT:
                return open_and_decode(first_frame(rest))
            if mode == P2P_HELLO:
                bob().on_hello(rest)
                return ACCEPTED
            frame = rest if mode == P2P_AUTH_FRAME else copy.copy(alice_auth_sender).seal(rest)
            session = bob_after_hello().on_auth(frame)
            assert session.peer_key == alice_key.public_key, "a session was established for a key that did not sign"
            return ACCEPTED
        except PeerError as error:
            return coded(error)

    auth_fields = [CHAIN_ID, alice_hello, bob_hello, alice_address]
    auth_plaintext = pack([CHAIN_ID, alice_key.public_key, alice_address, sign_fields(alice_key, "handshake", auth_fields)])
    wire_messages = [
        encode_message(KIND_TXS, encode_tx_batch([build_transaction(alice_key, CHAIN_ID, 1, "account.register", {}).raw])),
        encode_message(KIND_CONSENSUS, encode_consensus(sign_vote(alice_key, CHAIN_ID, "prepare", 1, 0, bytes(32)))),
        encode_message(KIND_SYNC_REQUEST, pack({"count": 16, "from": 1})),
        encode_message(KIND_STATUS, pack({"height": 7})),
    ]
    seeds = [bytes([P2P_FRAME]) + first_frame(message) for message in wire_messages]
    seeds += [bytes([P2P_PLAINTEXT]) + message for message in wire_messages]
    seeds += [bytes([P2P_HELLO]) + alice_hello, bytes([P2P_HELLO]) + bob_hello, bytes([P2P_HELLO]) + bytes(32)]
    seeds += [bytes([P2P_AUTH_FRAME]) + alice_auth, bytes([P2P_AUTH_PLAINTEXT]) + auth_plaintext]
    # Found by this harness, fixed in 115eb5f: a frame shorter than its 16-byte
    # tag raised a plain ValueError, after the handshake and in on_auth alike.
    regressions = [bytes([P2P_FRAME]) + bytes.fromhex("d700dcc3d1503bcf330c"), bytes([P2P_FRAME]),
                   bytes([P2P_AUTH_FRAME]) + b"abc", bytes([P2P_AUTH_FRAME]) + bytes(15)]
    return Surface("p2p", "p2p.errors.PeerError", seeds, run, prefix_bytes=1, regressions=regressions)


# -- 5 and 6. JSON: shared contract ---------------------------------------------------------

class ExceptionLog(logging.Handler):
    """Keeps the traceback a logger reports, so a -32603 names its cause."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.last = "".join(traceback.format_exception(*record.exc_info))


def json_answer_outcome(answer: Any, exception_log: ExceptionLog | None = None) -> str:
    """Check one JSON answer (an object, a batch of them, or None for
    notifications only) and name it: the first error's dotted code, or accepted."""
    try:
        json.dumps(answer, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"the answer is not JSON ({error}): {answer!r:.300}") from None
    if answer is None:
        return NOTIFICATION
    responses = answer if isinstance(answer, list) else [answer]
    assert responses and all(isinstance(item, dict) for item in responses), f"malformed answer {answer!r:.300}"
    codes = []
    for error in (response["error"] for response in responses if "error" in response):
        if error.get("code") == INTERNAL_ERROR:
            cause = exception_log.last if exception_log is not None else None
            raise AssertionError(f"answered -32603 (internal error); the logged cause:\n{cause}")
        data = error.get("data")
        codes.append(data["code"] if isinstance(data, dict) and "code" in data else str(error.get("code")))
    return codes[0] if codes else ACCEPTED


# Found by this harness, fixed in 115eb5f: a number beyond a float's range, or
# NaN, came back as the id of a websocket answer that was then not JSON.
NON_FINITE_BODIES = (
    b'{"jsonrpc": "2.0", "id": 1e999, "method": "subscribe", "params": {"topic": "blocks"}}',
    b'{"jsonrpc": "2.0", "id": NaN, "method": "subscribe", "params": {"topic": "blocks"}}',
    b'{"jsonrpc": "2.0", "id": -Infinity, "method": "subscribe", "params": ["blocks"]}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topic": "blocks", "x": [1E400]}}',
)


# -- 5. JSON-RPC ----------------------------------------------------------------------

def rpc_surface() -> Surface:
    # Imported here: the node, its store and aiohttp load for the JSON surfaces only.
    from commerce.executor import get_nonce
    from node.rpc_methods import build_method_table
    from tests.node.test_rpc_methods import ADMIN, BOB, GENESIS, GHOST, SHOP, Scenario

    scenario = Scenario()
    node = scenario.node
    table = build_method_table(node, RPC_BATCH_MAX, RPC_PAGE_SIZE_MAX, commit_wait_s=0.0)
    loop = asyncio.new_event_loop()
    exception_log = ExceptionLog()
    rpc_log = logging.getLogger("shopchain.rpc")
    rpc_log.addHandler(exception_log)

    next_nonce = get_nonce(node.store.state(), ADMIN.public_key) + 1
    fresh_tx = build_transaction(ADMIN, GENESIS.chain_id, next_nonce, "funds.transfer", {"to": BOB.address, "amount": 5}).raw.hex()
    committed_tx = node.store.transaction(scenario.transfer).raw.hex()
    plausible: dict[str, list[Any]] = {
        "tx": [fresh_tx, committed_tx], "wait": ["none", "mempool", "commit"],
        "id": [scenario.order, scenario.failed, scenario.transfer], "height": [1, 5],
        "address": [BOB.address, GHOST.address], "symbol": ["SHC", "WINE"], "batch": [scenario.batch],
        "coupon": [f"{scenario.batch}/1", f"{scenario.batch}/0"], "product": [f"{SHOP.address}/tea"],
        "order": [scenario.order], "subject": [scenario.lot, scenario.order], "contract": [scenario.contract],
        "from_height": [0, 5], "buyer": [BOB.address], "merchant": [SHOP.address], "state": ["created", "shipped"],
        "category": ["ware"], "holder": [BOB.address], "offset": [0, 1], "limit": [1, 2],
        "keys": [[BOB.public_key.hex()], ["00", "0100"]], "kind": ["order", "coupon-batch"],
    }
    document = table.openrpc_document()
    calls: list[dict[str, Any]] = []
    for method in document["methods"]:
        specs = method["params"]
        values = {spec["name"]: plausible.get(spec["name"]) or [_schema_example(spec["schema"])] for spec in specs}
        required = {spec["name"]: values[spec["name"]][0] for spec in specs if spec["required"]}
        calls.append({"jsonrpc": "2.0", "id": len(calls), "method": method["name"], "params": required})
        for choice in range(max((len(v) for v in values.values()), default=0)):
            every = {name: options[choice % len(options)] for name, options in values.items()}
            calls.append({"jsonrpc": "2.0", "id": f"call-{len(calls)}", "method": method["name"], "params": every})
        if specs:
            calls.append({"jsonrpc": "2.0", "id": len(calls), "method": method["name"],
                          "params": [values[spec["name"]][0] for spec in specs]})
    seeds = [json.dumps(call).encode() for call in calls]
    seeds.append(json.dumps({"jsonrpc": "2.0", "method": "chain_status"}).encode())
    seeds.append(json.dumps(calls[:5]).encode())

    def run(data: bytes) -> str:
        # The mempool keeps what tx_submit admits across inputs; only a seed's
        # transaction can be admitted (a mutated one fails its signature).
        exception_log.last = None
        answer = loop.run_until_complete(table.dispatch(data))
        return json_answer_outcome(answer, exception_log)

    vocabulary = sorted({*table.names, *plausible, *(str(v) for vs in plausible.values() for v in vs),
                         "jsonrpc", "2.0", "method", "params", "id"})

    def close() -> None:
        rpc_log.removeHandler(exception_log)
        loop.close()

    return Surface("rpc", "a JSON-RPC answer other than -32603", seeds, run, vocabulary, JSON_INPUT_BYTES_MAX, [close],
                   regressions=[body.replace(b"subscribe", b"chain_status") for body in NON_FINITE_BODIES])


def _schema_example(schema: dict[str, Any]) -> Any:
    """A value of a param's declared type, for a param the plausible values do not name."""
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "integer":
        return max(1, schema.get("minimum", 1))
    if schema.get("type") == "string":
        return "ab" * 32 if "0-9a-f" in schema.get("pattern", "") else "x"
    return None


# -- 6. websocket subscriptions -------------------------------------------------------------

def websocket_surface() -> Surface:
    # Imported here: the node and aiohttp load for the JSON surfaces only.
    from node.http_api import _subscription_call
    from node.subscriptions import SubscriptionHub

    hub = SubscriptionHub(WS_SUBSCRIPTIONS_MAX)
    loop = asyncio.new_event_loop()
    address, digest = seeded_key("fuzz account").address, hashlib.sha256(b"order").hexdigest()
    topics = ["blocks", f"events:account:{address}", f"events:order:{digest}", f"events:trace:{address}/tea/L1",
              f"events:coupon:{digest}"]
    held = topics[:2]   # each input's connection already holds these, so unsubscribe can succeed

    async def call(text: str) -> Any:
        subscriber = hub.open()
        for topic in held:
            hub.subscribe(subscriber, topic)
        try:
            return _subscription_call(hub, subscriber, text)
        finally:
            hub.close(subscriber)

    def run(data: bytes) -> str:
        answer = loop.run_until_complete(call(data.decode("utf-8", "replace")))   # the websocket delivers text
        assert isinstance(answer, dict), f"answer {answer!r:.300} is not an object"
        return json_answer_outcome(answer)

    seeds = []
    for index, topic in enumerate(topics):
        for method in ("subscribe", "unsubscribe"):
            seeds.append(json.dumps({"jsonrpc": "2.0", "id": index, "method": method, "params": {"topic": topic}}).encode())
        seeds.append(json.dumps({"jsonrpc": "2.0", "id": f"s{index}", "method": "subscribe", "params": [topic]}).encode())
    vocabulary = topics + ["subscribe", "unsubscribe", "topic", "jsonrpc", "2.0", "method", "params", "id",
                           "events:", "events:account:", "events:block:x"]
    return Surface("ws", "a JSON-RPC answer other than -32603", seeds, run, vocabulary, JSON_INPUT_BYTES_MAX, [loop.close],
                   regressions=list(NON_FINITE_BODIES))


BUILDERS: dict[str, Callable[[], Surface]] = {
    "tx": transaction_surface,
    "consensus": consensus_surface,
    "sync": sync_surface,
    "p2p": p2p_surface,
    "rpc": rpc_surface,
    "ws": websocket_surface,
}
SURFACE_NAMES = tuple(BUILDERS)


def build_surface(name: str) -> Surface:
    return BUILDERS[name]()
