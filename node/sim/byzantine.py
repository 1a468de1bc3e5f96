"""Byzantine strategies: what a faulty validator does with the real replica it runs.

A Byzantine validator runs the same ``consensus.Replica`` and
``ChainApplication`` as an honest one; its strategy rewrites what leaves it
(``outgoing``) and may act on its own schedule (``tick``). The validators
marked Byzantine form one coalition (the adversary controls them all), which
is what lets f+1 of them break safety in the non-vacuity test.

- ``silent``: never starts; sends nothing.
- ``equivocate``: as primary it sends one block to half the replicas and
  another to the rest; the coalition PREPAREs and COMMITs both, each to its half.
- ``conflicting-votes``: each PREPARE/COMMIT goes out as the real vote, a
  vote for another hash, or both, chosen per peer.
- ``amnesia``: crashes now and then and restarts without its sign state.
- ``garbage``: malformed bytes, flipped bits, truncations and messages signed
  by a key outside the validator set, in place of or beside its real messages.
- ``replay``: re-sends old messages (earlier heights and views) it sent or saw.
- ``twins``: a second replica runs the same validator key with unmodified
  honest code; the simulator puts the two on different sides of a partition
  during the fault phase (the Twins method), so they may sign conflicting
  votes as one equivocating validator would.
- ``forge-sync``: claims a height far above the chain's in its status and
  serves block sync with forged blocks (a header changed under its
  certificate), so a lagging replica asks it first.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING

from chain.block import Block, decode_block
from chain.constants import PHASE_COMMIT, PHASE_PREPARE
from chain.votes import Vote, decode_certificate, sign_vote
from consensus import ConsensusError, Proposal, decode_message, encode_message
from consensus.messages import sign_proposal
from node.core import decode_status, encode_status
from node.workload import derive_key
from p2p.sync import CertifiedBlock, decode_sync_response, encode_sync_response
from p2p.wire import KIND_CONSENSUS, KIND_STATUS, KIND_SYNC_RESPONSE

if TYPE_CHECKING:
    from node.sim.core import Simulation

STRATEGIES = ("silent", "equivocate", "conflicting-votes", "amnesia", "garbage", "replay", "twins", "forge-sync")
FORGED_HEIGHT_LEAD = 1000
OUTSIDER = derive_key("outsider")
REPLAY_LOG_MAX = 4096


class Strategy:
    name = "honest"

    def __init__(self, sim: "Simulation", index: int) -> None:
        self.sim = sim
        self.index = index
        self.node = sim.nodes[index]

    def starts(self) -> bool:
        return True

    def outgoing(self, kind: str, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        """What leaves for ``destinations`` when the node sends ``raw`` of ``kind``."""
        if kind != KIND_CONSENSUS:
            return [(dst, raw) for dst in destinations]
        return self.consensus_out(raw, destinations)

    def consensus_out(self, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        return [(dst, raw) for dst in destinations]

    def on_received(self, raw: bytes) -> None:
        pass

    def tick_ms(self) -> int | None:
        """Delay to the next ``tick`` (None: no schedule of its own)."""
        return None

    def tick(self) -> None:
        pass

    def _replica(self):
        return None if self.node.core is None else self.node.core.replica

    def _decode(self, raw: bytes):
        try:
            return decode_message(raw, len(self.sim.validators), 1 << 24)
        except ConsensusError:
            return None


class Silent(Strategy):
    name = "silent"

    def starts(self) -> bool:
        return False


class Equivocate(Strategy):
    name = "equivocate"

    def consensus_out(self, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        message = self._decode(raw)
        replica = self._replica()
        if not isinstance(message, Proposal) or message.view != 0 or replica is None:
            return super().consensus_out(raw, destinations)
        block_a = message.block
        header = block_a.header
        block_b = self.node.core.app.build_block(header.height, header.prev_hash, header.time_ms + 1, header.proposer,
                                                 block_a.evidence, ())
        other = encode_message(sign_proposal(self.node.key, self.sim.chain_id, header.height, 0, block_b))
        honest = [dst for dst in destinations if not self.sim.nodes[dst].byzantine]
        self.sim.rng.shuffle(honest)
        half_b = honest[: len(honest) // 2]
        out = []
        for dst in destinations:
            block, payload = (block_b, other) if dst in half_b else (block_a, raw)
            out.append((dst, payload))
            out += [(dst, vote) for vote in self._coalition_votes(header.height, block.hash())]
        return out

    def _coalition_votes(self, height: int, block_hash: bytes) -> list[bytes]:
        """PREPARE and COMMIT for ``block_hash`` at view 0 from every Byzantine validator."""
        return [encode_message(sign_vote(node.key, self.sim.chain_id, phase, height, 0, block_hash))
                for node in self.sim.nodes if node.byzantine for phase in (PHASE_PREPARE, PHASE_COMMIT)]


class ConflictingVotes(Strategy):
    name = "conflicting-votes"

    def consensus_out(self, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        message = self._decode(raw)
        if not isinstance(message, Vote):
            return super().consensus_out(raw, destinations)
        other_hash = hashlib.sha256(b"conflict" + raw).digest()
        fake = encode_message(sign_vote(self.node.key, self.sim.chain_id, message.phase, message.height,
                                        message.view, other_hash))
        out = []
        for dst in destinations:
            choice = self.sim.rng.randrange(3)
            out += [(dst, raw)] if choice == 0 else [(dst, fake)] if choice == 1 else [(dst, raw), (dst, fake)]
        return out


class Amnesia(Strategy):
    name = "amnesia"

    def tick_ms(self) -> int:
        return self.sim.rng.randint(500, 3000)

    def tick(self) -> None:
        if self._replica() is not None:
            self.sim.crash(self.index, forget_sign_state=True, down_ms=self.sim.rng.randint(20, 300))


class Garbage(Strategy):
    name = "garbage"

    def consensus_out(self, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        out = []
        for dst in destinations:
            if self.sim.rng.random() < 0.5:
                out.append((dst, raw))
            out.append((dst, self._garble(raw)))
        return out

    def tick_ms(self) -> int:
        return self.sim.rng.randint(50, 400)

    def tick(self) -> None:
        replica = self._replica()
        if replica is None:
            return
        raw = encode_message(sign_vote(OUTSIDER, self.sim.chain_id, PHASE_PREPARE, replica.height, replica.view,
                                       self.sim.rng.randbytes(32)))
        for dst in self.sim.peers(self.index):
            self.sim.send(self.index, dst, KIND_CONSENSUS, self._garble(raw))

    def _garble(self, raw: bytes) -> bytes:
        rng = self.sim.rng
        kind = rng.randrange(5)
        if kind == 0:
            return rng.randbytes(rng.randint(0, 200))
        if kind == 1:
            return raw[: rng.randrange(len(raw))] if raw else b""
        if kind == 2 and raw:
            position = rng.randrange(len(raw))
            return raw[:position] + bytes([raw[position] ^ (1 << rng.randrange(8))]) + raw[position + 1:]
        if kind == 3:
            message = self._decode(raw)
            if isinstance(message, Vote):   # the right fields, signed by a key outside the set
                forged = sign_vote(OUTSIDER, self.sim.chain_id, message.phase, message.height, message.view, message.block_hash)
                return encode_message(Vote(forged.phase, forged.height, forged.view, forged.block_hash,
                                           message.validator, forged.signature))
        return raw + rng.randbytes(rng.randint(1, 16))


class Replay(Strategy):
    name = "replay"

    def __init__(self, sim: "Simulation", index: int) -> None:
        super().__init__(sim, index)
        self.log: list[bytes] = []

    def consensus_out(self, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        self._remember(raw)
        return super().consensus_out(raw, destinations)

    def on_received(self, raw: bytes) -> None:
        self._remember(raw)

    def _remember(self, raw: bytes) -> None:
        if len(self.log) >= REPLAY_LOG_MAX:
            del self.log[: REPLAY_LOG_MAX // 2]
        self.log.append(raw)

    def tick_ms(self) -> int:
        return self.sim.rng.randint(50, 300)

    def tick(self) -> None:
        if not self.log or self._replica() is None:
            return
        for _ in range(4):
            raw = self.log[self.sim.rng.randrange(len(self.log))]
            peers = self.sim.peers(self.index)
            if peers:
                self.sim.send(self.index, peers[self.sim.rng.randrange(len(peers))], KIND_CONSENSUS, raw)


class Twins(Strategy):
    """Honest code under a shared key: the simulator adds the second replica
    and the partition between the pair (``Simulation``)."""

    name = "twins"


class ForgeSync(Strategy):
    name = "forge-sync"

    def outgoing(self, kind: str, raw: bytes, destinations: list[int]) -> list[tuple[int, bytes]]:
        if kind == KIND_STATUS:
            raw = encode_status(decode_status(raw) + FORGED_HEIGHT_LEAD)
        elif kind == KIND_SYNC_RESPONSE:
            raw = self._forge(raw)
        return super().outgoing(kind, raw, destinations)

    def _forge(self, raw: bytes) -> bytes:
        forged = []
        for block_bytes, certificate_bytes in decode_sync_response(raw, self.sim.message_bytes_max, 1 << 16):
            block = decode_block(block_bytes, 1 << 30)
            header = dataclasses.replace(block.header, time_ms=block.header.time_ms + 1)
            forged.append(CertifiedBlock(Block(header, block.txs, block.evidence),
                                         decode_certificate(certificate_bytes, len(self.sim.validators))))
        return encode_sync_response(forged, self.sim.message_bytes_max)


_BY_NAME = {cls.name: cls for cls in (Silent, Equivocate, ConflictingVotes, Amnesia, Garbage, Replay, Twins, ForgeSync)}


def make_strategy(name: str, sim: "Simulation", index: int) -> Strategy:
    """``name`` is one of STRATEGIES (SimConfig checks it)."""
    return _BY_NAME[name](sim, index)

