"""PeerNetwork over real websockets on 127.0.0.1."""
import asyncio
import os

import aiohttp
import pytest

from p2p.network import PeerAddress
from p2p.secure_channel import Handshake
from tests.p2p.netutil import CHAIN, key, running_node, start_node, stop_node, wait_until


def run(coroutine):
    return asyncio.run(coroutine)


def test_dialled_peer_connects_with_proven_keys_and_messages_flow():
    async def scenario():
        async with running_node("a") as a, running_node("b") as b:
            a.network.add_persistent_peer(PeerAddress(b.url, b.identity.public_key))
            await wait_until(b.handler, lambda: a.identity.public_key in b.network.peers())
            await wait_until(a.handler, lambda: b.identity.public_key in a.network.peers())
            assert a.network.send(b.identity.public_key, "status", b"height 7")
            assert b.network.send(a.identity.public_key, "status", b"height 9")
            await wait_until(b.handler, lambda: b.handler.messages)
            await wait_until(a.handler, lambda: a.handler.messages)
            assert b.handler.messages == [(a.identity.public_key, "status", b"height 7")]
            assert a.handler.messages == [(b.identity.public_key, "status", b"height 9")]
    run(scenario())


def test_gossip_is_handled_once_per_node_in_a_triangle():
    async def scenario():
        nodes = [await start_node(name, relay=True) for name in ("a", "b", "c")]
        try:
            a, b, c = nodes
            a.network.add_persistent_peer(PeerAddress(b.url))
            b.network.add_persistent_peer(PeerAddress(c.url))
            c.network.add_persistent_peer(PeerAddress(a.url))
            for node in nodes:
                await wait_until(node.handler, lambda node=node: len(node.network.peers()) == 2)
            assert a.network.broadcast("txs", b"signed tx bytes") == 2
            await wait_until(b.handler, lambda: b.handler.messages)
            await wait_until(c.handler, lambda: c.handler.messages)
            # b and c each get the gossip twice (from a, and relayed by the
            # other); the seen cache lets exactly one copy through
            await wait_until(b.handler, lambda: b.network.stats.dropped_duplicates == 1)
            await wait_until(c.handler, lambda: c.network.stats.dropped_duplicates == 1)
            assert [m[2] for m in b.handler.messages] == [b"signed tx bytes"]
            assert [m[2] for m in c.handler.messages] == [b"signed tx bytes"]
        finally:
            for node in nodes:
                await stop_node(node)
    run(scenario())


def test_peer_on_another_chain_is_refused():
    async def scenario():
        async with running_node("a") as a, running_node("b", chain_id="another-chain") as b:
            a.network.add_persistent_peer(PeerAddress(b.url))
            await wait_until(a.handler, lambda: a.network.stats.refused.get("p2p.wrong_chain", 0) >= 1)
            assert a.network.peers() == [] and b.network.peers() == []
    run(scenario())


def test_peer_proving_another_key_than_listed_is_refused():
    async def scenario():
        async with running_node("a") as a, running_node("b") as b:
            a.network.add_persistent_peer(PeerAddress(b.url, key("someone else").public_key))
            await wait_until(a.handler, lambda: a.network.stats.refused.get("p2p.unexpected_key", 0) >= 1)
            assert a.network.peers() == []
    run(scenario())


async def raw_client(url: str, name: str, chain_id: str = CHAIN):
    """A hand-driven peer: completes the handshake, then sends what a test says."""
    session = aiohttp.ClientSession()
    websocket = await session.ws_connect(url)
    handshake = Handshake(key(name), chain_id, "127.0.0.1:1")
    await websocket.send_bytes(handshake.hello())
    await websocket.send_bytes(handshake.on_hello((await websocket.receive()).data))
    secure = handshake.on_auth((await websocket.receive()).data)
    return session, websocket, secure


async def closed_by_server(websocket) -> bool:
    """True once the server closes; what it sent before (its auth) is skipped."""
    while True:
        message = await asyncio.wait_for(websocket.receive(), 10)
        if message.type != aiohttp.WSMsgType.BINARY:
            return message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


@pytest.mark.parametrize("frame_kind", ["garbage", "unauthenticated", "bad_message", "text"])
def test_peer_sending_invalid_frames_is_disconnected_and_banned(frame_kind):
    async def scenario():
        async with running_node("b") as b:
            session, websocket, secure = await raw_client(b.url, "mallory")
            await wait_until(b.handler, lambda: b.network.peers())
            if frame_kind == "garbage":
                await websocket.send_bytes(os.urandom(200))
            elif frame_kind == "unauthenticated":
                await websocket.send_bytes(secure.sender.seal(b"x")[:-1] + b"\x00")
            elif frame_kind == "bad_message":
                await websocket.send_bytes(secure.sender.seal(b"\x92\xa4nope\xc4\x00"))
            else:
                await websocket.send_str("hello")
            assert await closed_by_server(websocket)
            await wait_until(b.handler, lambda: b.handler.disconnected == [key("mallory").public_key])
            assert b.network.stats.bans == 1
            await session.close()
    run(scenario())


def test_unauthenticated_peer_never_gets_in():
    async def scenario():
        async with running_node("b") as b:
            async with aiohttp.ClientSession() as session:
                websocket = await session.ws_connect(b.url)
                await websocket.receive()  # b's hello
                await websocket.send_bytes(os.urandom(32))
                await websocket.send_bytes(os.urandom(80))  # not an auth b can open
                assert await closed_by_server(websocket)
            assert b.handler.connected == [] and b.network.stats.refused
    run(scenario())


def test_oversized_frame_disconnects_the_peer():
    async def scenario():
        async with running_node("b", frame_bytes_max=1024) as b:
            session, websocket, secure = await raw_client(b.url, "mallory")
            await websocket.send_bytes(secure.sender.seal(b"\x00" * 10_000))
            assert await closed_by_server(websocket)
            await wait_until(b.handler, lambda: b.network.stats.refused.get("p2p.frame_too_large") == 1)
            await session.close()
    run(scenario())


def test_flooding_observer_is_disconnected():
    async def scenario():
        async with running_node("b", observer_frames_per_s_max=20) as b:
            session, websocket, secure = await raw_client(b.url, "mallory")
            for n in range(200):
                await websocket.send_bytes(secure.sender.seal(b"\x92\xa6status\xc4\x01" + bytes([n])))
            assert await closed_by_server(websocket)
            await wait_until(b.handler, lambda: b.network.stats.refused.get("p2p.flood") == 1)
            await session.close()
    run(scenario())


def test_a_validator_is_held_to_the_validators_frame_limit_not_the_observers():
    async def scenario():
        validator = key("valid").public_key
        async with running_node("b", observer_frames_per_s_max=20, validators=frozenset({validator})) as b:
            session, websocket, secure = await raw_client(b.url, "valid")
            for n in range(200):
                await websocket.send_bytes(secure.sender.seal(b"\x92\xa6status\xc4\x01" + bytes([n])))
            await wait_until(b.handler, lambda: len(b.handler.messages) == 200)
            assert b.network.peers() == [validator] and "p2p.flood" not in b.network.stats.refused
            await session.close()
    run(scenario())


def test_observers_are_capped_and_never_take_a_validators_place():
    async def scenario():
        validator = key("valid").public_key
        async with running_node("b", observers_max=2, validators=frozenset({validator})) as b:
            clients = [await raw_client(b.url, f"observer{i}") for i in range(2)]
            await wait_until(b.handler, lambda: len(b.network.peers()) == 2)
            session, websocket, _ = await raw_client(b.url, "observer2")
            assert await closed_by_server(websocket)
            await wait_until(b.handler, lambda: b.network.stats.refused.get("p2p.too_many_observers") == 1)
            assert b.network.stats.bans == 0                  # a full node is no offence
            await session.close()
            clients.append(await raw_client(b.url, "valid"))
            await wait_until(b.handler, lambda: validator in b.network.peers())
            assert len(b.network.peers()) == 3
            for client_session, _, _ in clients:
                await client_session.close()
    run(scenario())


def test_a_handshake_flood_from_one_address_is_capped_before_any_cryptography():
    async def scenario():
        async with running_node("b", handshakes_per_address_max=3, handshakes_max=8, handshakes_reserved=2,
                                handshake_timeout_s=30) as b:
            flooder = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
            stalled = [await flooder.ws_connect(b.url) for _ in range(3)]    # each waits in its handshake
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await flooder.ws_connect(b.url)
            assert refused.value.status == 503 and b.network.stats.refused == {"p2p.handshakes_busy": 1}
            session, websocket, _ = await raw_client(b.url, "honest")      # another address still gets in
            await wait_until(b.handler, lambda: key("honest").public_key in b.network.peers())
            for websocket in stalled:
                await websocket.close()
            await flooder.close()
            await session.close()
    run(scenario())


def test_reserved_handshake_slots_are_kept_for_the_hosts_of_persistent_peers():
    async def scenario():
        async with running_node("b", handshakes_per_address_max=10, handshakes_max=4, handshakes_reserved=2,
                                handshake_timeout_s=30) as b:
            b.network.add_persistent_peer(PeerAddress("ws://127.0.0.1:9/p2p"))   # trusts host 127.0.0.1
            flooder = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
            stalled = [await flooder.ws_connect(b.url) for _ in range(2)]
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await flooder.ws_connect(b.url)                              # the rest are reserved
            session, websocket, _ = await raw_client(b.url, "validator-host")
            await wait_until(b.handler, lambda: key("validator-host").public_key in b.network.peers())
            for websocket in stalled:
                await websocket.close()
            await flooder.close()
            await session.close()
    run(scenario())


def test_handler_rejection_drops_and_bans_the_sender_then_it_is_refused():
    async def scenario():
        async with running_node("a") as a, running_node("b", ban_base_s=60) as b:
            b.handler.reject = b"forged vote"
            a.network.add_persistent_peer(PeerAddress(b.url))
            await wait_until(a.handler, lambda: a.network.peers())
            a.network.send(b.identity.public_key, "consensus", b"forged vote")
            await wait_until(b.handler, lambda: b.handler.disconnected)
            await wait_until(b.handler, lambda: b.network.stats.refused.get("p2p.banned", 0) >= 1)
            assert b.network.peers() == [] and b.network.stats.bans == 1
    run(scenario())


def test_persistent_peer_is_redialled_after_it_restarts():
    async def scenario():
        b = await start_node("b")
        port = int(b.url.split(":")[2].split("/")[0])
        async with running_node("a", reconnect_base_s=0.05, reconnect_cap_s=0.2) as a:
            a.network.add_persistent_peer(PeerAddress(b.url, b.identity.public_key))
            await wait_until(a.handler, lambda: a.network.peers())
            await stop_node(b)
            await wait_until(a.handler, lambda: a.handler.disconnected)
            b = await start_node("b", port=port)
            await wait_until(b.handler, lambda: b.network.peers() == [a.identity.public_key])
            assert a.handler.connected.count(b.identity.public_key) == 2
            await stop_node(b)
    run(scenario())


def test_send_queue_is_bounded_and_a_slow_peer_loses_frames_not_memory():
    async def scenario():
        async with running_node("a", send_queue_max=3) as a, running_node("b") as b:
            a.network.add_persistent_peer(PeerAddress(b.url))
            await wait_until(a.handler, lambda: a.network.peers())
            link = a.network._links[b.identity.public_key]
            stalled, released = asyncio.Event(), asyncio.Event()
            real_send = link.websocket.send_bytes

            async def stalled_send(data):
                stalled.set()
                await released.wait()
                await real_send(data)

            link.websocket.send_bytes = stalled_send
            assert a.network.send(b.identity.public_key, "status", b"first")
            await asyncio.wait_for(stalled.wait(), 10)  # the writer holds "first"
            accepted = [a.network.send(b.identity.public_key, "status", bytes([n])) for n in range(10)]
            assert accepted == [True] * 3 + [False] * 7 and a.network.stats.dropped_queue_full == 7
            released.set()
            await wait_until(b.handler, lambda: len(b.handler.messages) == 4)
            assert [m[2] for m in b.handler.messages] == [b"first", b"\x00", b"\x01", b"\x02"]
    run(scenario())


def test_a_crashing_handler_does_not_end_redialling():
    async def scenario():
        async with running_node("a", reconnect_base_s=0.05, reconnect_cap_s=0.1) as a, running_node("b") as b:
            crashes = []

            def crash_once(peer_key, kind, payload):
                if not crashes:
                    crashes.append(payload)
                    raise KeyError("a bug in the node")
                a.handler.messages.append((peer_key, kind, payload))
                a.handler.changed.set()

            a.handler.on_message = crash_once
            a.network.add_persistent_peer(PeerAddress(b.url, b.identity.public_key))
            await wait_until(b.handler, lambda: b.network.peers())
            b.network.send(a.identity.public_key, "status", b"boom")
            await wait_until(a.handler, lambda: a.handler.connected.count(b.identity.public_key) == 2)
            await wait_until(b.handler, lambda: b.network.peers() == [a.identity.public_key])
            b.network.send(a.identity.public_key, "status", b"after")
            await wait_until(a.handler, lambda: a.handler.messages)
            assert crashes == [b"boom"] and a.handler.messages[0][2] == b"after"
    run(scenario())
