"""A late observer, the coupon promise under concurrency, bad input over RPC,
and the command line against a running testnet."""
import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chain.keys import KeyPair, save_key_file
from chain.transaction import build_transaction
from node.client import RpcCallError, ShopchainClient
from node.cluster import Cluster
from node.config import NodeConfig, render_config
from node.home import NODE_KEY_FILE, open_home
from tests.cluster.clusterutil import admin_key, block_hash, free_port_base, rpc_url, run, running_testnet, wait_height
from tests.cluster.lying_proxy import LyingProxy

pytestmark = pytest.mark.slow
ALL = ["node0", "node1", "node2", "node3"]
SHOPCHAIN = str(Path(sys.executable).with_name("shopchain"))


def add_observer(cluster: Cluster, directory: Path) -> str:
    """A home with a fresh key (not a validator) peering with every validator."""
    import dataclasses
    import shutil

    from node.testnet import TestnetNode

    base = free_port_base(2)
    home = directory / "observer"
    home.mkdir()
    shutil.copy(cluster.testnet.nodes[0].home / "genesis.json", home / "genesis.json")
    save_key_file(home / NODE_KEY_FILE, KeyPair.generate())
    defaults = NodeConfig()
    config = dataclasses.replace(
        defaults,
        node=dataclasses.replace(defaults.node, name="observer"),
        p2p=dataclasses.replace(defaults.p2p, listen_port=base, persistent_peers=[n.p2p_url for n in cluster.testnet.nodes]),
        rpc=dataclasses.replace(defaults.rpc, listen_port=base + 1),
    )
    (home / "config.toml").write_text(render_config(config))
    observer = TestnetNode("observer", home, f"ws://127.0.0.1:{base}/p2p", f"http://127.0.0.1:{base + 1}/rpc")
    cluster.testnet = dataclasses.replace(cluster.testnet, nodes=cluster.testnet.nodes + (observer,))
    return "observer"


def test_late_observer_syncs_from_genesis(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 6)
            name = add_observer(cluster, tmp_path)
            cluster.start(name)
            cluster.wait_ready(name)
            target = (await _height(cluster, "node0")) + 2
            await wait_height(cluster, [name], target)
            assert await block_hash(cluster, name, target) == await block_hash(cluster, "node0", target)
            certificate = (await _block(cluster, "node0", target))["certificate"]
            observer_key = json.loads((tmp_path / "observer" / NODE_KEY_FILE).read_text())["public_key"]
            assert observer_key not in [vote[0] for vote in certificate["votes"]]
        run(scenario())


async def _height(cluster, name):
    async with ShopchainClient(rpc_url(cluster, name)) as client:
        return (await client.chain_status())["height"]


async def _block(cluster, name, height):
    async with ShopchainClient(rpc_url(cluster, name)) as client:
        return await client.block_get(height)


def _sold_more(method, answer):
    """A batch record that says 9 sold online (it was 10)."""
    for item in answer.get("proofs", []):
        value = bytes.fromhex(item["value"]) if item["value"] else b""
        if b"sold_online" in value:
            item["value"] = value.replace(b"\xabsold_online\x0a", b"\xabsold_online\x09").hex()


def _flip_a_proof_byte(method, answer):
    for item in answer.get("proofs", []):
        raw = bytearray(bytes.fromhex(item["proof"]))
        raw[len(raw) // 2] ^= 1
        item["proof"] = raw.hex()


def _forge_the_state_root(method, answer):
    if "header_bytes" in answer:
        root = answer["header"]["state_root"]
        answer["header_bytes"] = answer["header_bytes"].replace(root, "00" * 32)


def _forge_a_signature(method, answer):
    if "certificate_bytes" in answer:
        raw = bytearray(bytes.fromhex(answer["certificate_bytes"]))
        raw[-3] ^= 1
        answer["certificate_bytes"] = raw.hex()


def _answer_from_an_older_height(method, answer):
    if "height" in answer:
        answer["height"] -= 1


def drop_one_trace_event(method, answer):
    """A trace trimmed to four events: its count says 4 and the fifth event's proof is gone."""
    proofs = answer.get("proofs", [])
    for item in proofs:
        value = bytes.fromhex(item["value"]) if item["value"] else b""
        if b"\xa5count\x05" in value:
            item["value"] = value.replace(b"\xa5count\x05", b"\xa5count\x04").hex()
    answer["proofs"] = [item for item in proofs if b"\xa6site 4" not in bytes.fromhex(item["value"] or "")]


LIES_ON_THE_WIRE = [_sold_more, _flip_a_proof_byte, _forge_the_state_root, _forge_a_signature, _answer_from_an_older_height]


def test_fifty_buyers_race_for_ten_coupons(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 1)
            admin = admin_key(cluster)
            merchant, buyers = KeyPair.generate(), [KeyPair.generate() for _ in range(50)]
            async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                nonce = await client.next_nonce(admin.address)
                for key in [merchant] + buyers:
                    for kind, body in (("account.register", {"name": "user", "account": key.address}),
                                       ("funds.mint", {"to": key.address, "amount": 10_000})):
                        await client.submit(await client.sign(admin, kind, body, nonce=nonce), wait="mempool")
                        nonce += 1
                await client.send(merchant, "account.request_role", {"role": "merchant", "profile_hash": b"\x01" * 32})
                await client.send(admin, "account.approve", {"account": merchant.address, "role": "merchant"})
                status = await client.chain_status()
                issued = await client.send(merchant, "coupon.issue", {
                    "brand": "Acme", "content": "10 off", "discount": {"kind": "amount", "value": 10}, "price": 50,
                    "total": 10, "valid_from": 0, "valid_until": status["last_block_time_ms"] + 3_600_000, "serial_prefix": "ACME"})
                assert issued.ok, issued
                chain_id = status["chain_id"]
            batch = issued.id

            async def buy(index: int, buyer: KeyPair):
                tx = build_transaction(buyer, chain_id, 1, "coupon.buy", {"batch": batch})
                async with ShopchainClient(rpc_url(cluster, ALL[index % 4])) as client:
                    return await client.submit(tx, wait="commit")

            results = await asyncio.gather(*(buy(i, buyer) for i, buyer in enumerate(buyers)))
            assert sum(result.ok for result in results) == 10
            assert sorted(result.code for result in results if not result.ok) == ["coupon.sold_out"] * 40
            last = max(result.height for result in results)
            await wait_height(cluster, ALL, last)
            for name in ALL:
                async with ShopchainClient(rpc_url(cluster, name)) as client:
                    view = await client.query("coupon_batch_get", batch=batch)
                assert (view["sold"], view["sold_online"]) == (10, 10)
            return batch
        batch = run(scenario())
        # A shopper checks the batch from node3 against the validators' signatures alone.
        genesis = cluster.testnet.nodes[0].home / "genesis.json"
        command = [sys.executable, "-m", "cli", "verify", "coupon-batch", batch, "--rpc", rpc_url(cluster, "node3"),
                   "--genesis", str(genesis)]
        human = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert human.returncode == 0, human.stderr
        assert re.search(r"^declared total +10$", human.stdout, re.M) and re.search(r"^sold online +10$", human.stdout, re.M)
        assert re.search(r"^left +0$", human.stdout, re.M)
        assert re.search(r"^verified at height \d+ \(block time .+\): signed by [34] of 4 validators$", human.stdout, re.M)
        proven = json.loads(subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=60).stdout)
        assert proven["coupon_batch"]["sold_online"] == 10 and proven["signers"] >= 3 and proven["validators"] == 4
        absent = subprocess.run([*command[:5], "ab" * 32, *command[6:]], capture_output=True, text=True, timeout=60)
        assert absent.returncode == 1 and absent.stderr.startswith("verify.absent:")
        genesis_hash = open_home(cluster.testnet.nodes[0].home).genesis.hash.hex()
        by_hash = [*command[:8], "--genesis-hash", genesis_hash]          # the node serves the genesis document
        assert subprocess.run(by_hash, capture_output=True, text=True, timeout=60).returncode == 0
        wrong = subprocess.run([*command[:8], "--genesis-hash", "00" * 32], capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 1 and wrong.stderr.startswith("verify.failed:")
        stale = subprocess.run(command + ["--max-age", "0"], capture_output=True, text=True, timeout=60)
        assert stale.returncode == 1 and stale.stderr.startswith("verify.stale:")
        # Between the shopper and node3, a proxy alters one thing each time: verify fails, never printing the lie.
        for lie in LIES_ON_THE_WIRE:
            with LyingProxy(rpc_url(cluster, "node3"), lie) as proxy:
                lied = subprocess.run([*command[:6], "--rpc", proxy.url, *command[8:]], capture_output=True, text=True,
                                      timeout=60)
            assert lied.returncode == 1 and lied.stderr.startswith("verify.failed:"), (lie.__name__, lied.stdout, lied.stderr)
            assert "sold online" not in lied.stdout, lie.__name__
        issued = subprocess.run([sys.executable, "-m", "cli", "verify", "tx", batch, "--rpc", rpc_url(cluster, "node2"),
                                 "--genesis", str(genesis), "--json"], capture_output=True, text=True, timeout=60)
        assert issued.returncode == 0, issued.stderr
        proven_tx = json.loads(issued.stdout)["transaction"]
        assert (proven_tx["kind"], proven_tx["ok"], proven_tx["body"]["total"]) == ("coupon.issue", True, 10)


def test_bad_input_over_rpc_gets_clear_errors_and_the_chain_goes_on(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 1)
            url = rpc_url(cluster, "node1")
            admin = admin_key(cluster)
            async with aiohttp.ClientSession() as session:
                async def post(body: bytes):
                    async with session.post(url, data=body) as response:
                        return response.status, await response.json()

                assert (await post(b"{nope"))[1]["error"]["data"]["code"] == "rpc.parse_error"
                assert (await post(b'{"jsonrpc":"2.0","id":1,"method":"no_such"}'))[1]["error"]["data"]["code"] == "rpc.method_not_found"
                assert (await post(b'{"jsonrpc":"2.0","id":1,"method":"block_get","params":{"height":"x"}}'))[1]["error"]["code"] == -32602
                status, answer = await post(b'{"jsonrpc":"2.0","id":1,"method":"chain_status","params":{"pad":"' + b"x" * 2_000_000 + b'"}}')
                assert status == 413 and answer["error"]["data"]["code"] == "rpc.body_too_large"
                batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "chain_status"} for i in range(101)]).encode()
                assert (await post(batch))[1]["error"]["data"]["code"] == "rpc.batch_too_large"
            async with ShopchainClient(url) as client:
                good = await client.sign(admin, "funds.mint", {"to": admin.address, "amount": 1})
                forged = bytearray(good.raw)
                forged[-1] ^= 1
                other_chain = build_transaction(admin, "another-chain", good.nonce, "funds.mint", {"to": admin.address, "amount": 1})
                for raw, code in ((bytes(forged), "tx.bad_signature"), (other_chain.raw, "tx.wrong_chain")):
                    with pytest.raises(RpcCallError) as refused:
                        await client.call("tx_submit", tx=raw.hex())
                    assert refused.value.code == code
                committed = await client.submit(good)
                assert committed.ok
                with pytest.raises(RpcCallError) as replayed:
                    await client.call("tx_submit", tx=good.raw.hex())
                assert replayed.value.code in ("tx.bad_nonce", "tx.duplicate")
                height = (await client.chain_status())["height"]
            await wait_height(cluster, ALL, height + 3)
        run(scenario())


def test_command_line_against_a_running_testnet(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        url = rpc_url(cluster, "node2")
        key_path = tmp_path / "alice.json"
        shown = subprocess.run([SHOPCHAIN, "keys", "new", "--out", str(key_path), "--json"], capture_output=True, text=True, timeout=60)
        alice = json.loads(shown.stdout)["address"]
        minted = subprocess.run([SHOPCHAIN, "tx", "funds.mint", "--key", str(cluster.testnet.admin_key_path), "--rpc", url,
                                 "--to", alice, "--amount", "250", "--json"], capture_output=True, text=True, timeout=60)
        assert minted.returncode == 0, minted.stderr
        assert json.loads(minted.stdout)["ok"] is True
        account = subprocess.run([SHOPCHAIN, "query", "account", alice, "--rpc", url, "--json"], capture_output=True, text=True, timeout=60)
        assert json.loads(account.stdout)["balances"] == {"SHC": 250}
        status = subprocess.run([SHOPCHAIN, "query", "status", "--rpc", url, "--json"], capture_output=True, text=True, timeout=60)
        assert json.loads(status.stdout)["chain_id"] == "shopchain-cluster"


def test_running_node_refuses_foreign_and_garbage_peers_and_keeps_committing(tmp_path):
    from p2p.secure_channel import Handshake

    with running_testnet(tmp_path / "net") as cluster:
        async def closed(websocket) -> bool:
            while True:
                message = await asyncio.wait_for(websocket.receive(), 10)
                if message.type != aiohttp.WSMsgType.BINARY:
                    return True

        async def scenario():
            await wait_height(cluster, ALL, 1)
            p2p_url = cluster.testnet.nodes[0].p2p_url.replace("ws://", "http://")
            async with aiohttp.ClientSession() as session:
                for chain_id in ("another-chain", cluster.testnet.chain_id):
                    websocket = await session.ws_connect(p2p_url)
                    handshake = Handshake(KeyPair.generate(), chain_id, "127.0.0.1:1")
                    await websocket.send_bytes(handshake.hello())
                    await websocket.send_bytes(handshake.on_hello((await websocket.receive()).data))
                    if chain_id == cluster.testnet.chain_id:
                        handshake.on_auth((await websocket.receive()).data)
                        await websocket.send_bytes(b"\x00" * 64)  # an unauthenticated frame
                    assert await closed(websocket)
                websocket = await session.ws_connect(p2p_url)
                await websocket.receive()
                await websocket.send_bytes(b"garbage instead of a key")
                assert await closed(websocket)
            height = (await _height(cluster, "node0"))
            await wait_height(cluster, ALL, height + 3)
        run(scenario())


def test_load_generator_counts_committed_transactions_of_either_mix_and_runs_a_grid(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        directory = str(cluster.testnet.directory)
        for mix in ("transfer", "commerce"):
            result = subprocess.run([SHOPCHAIN, "bench", "load", directory, "--mix", mix, "--accounts", "20", "--txs", "300",
                                     "--rate", "300", "--json"], capture_output=True, text=True, timeout=240)
            assert result.returncode == 0, result.stderr
            report = json.loads(result.stdout)
            assert report["mix"] == mix and report["submitted"] == 300 and report["refused"] == 0
            assert report["committed"] + report["failed"] == 300 and report["committed"] >= 270, report
            assert report["tx_per_s"] > 0 and 0 < report["latency_ms_p50"] <= report["latency_ms_p99"]
            bound = report["bound"]
            assert bound["mix"] == mix and bound["validators"] == 4 and bound["exec_us"] > 0 and bound["verify_us"] > 0
            assert report["ratio_to_bound"] == round(report["tx_per_s"] / bound["tx_per_s"], 3)
            # the bound of the mean times lies between the two measured before and after the load
            slowest, fastest = sorted((bound["tx_per_s_before"], bound["tx_per_s_after"]))
            assert 0 < slowest * 0.99 <= bound["tx_per_s"] <= fastest * 1.01, bound
        out = tmp_path / "grid"
        result = subprocess.run([SHOPCHAIN, "bench", "load", directory, "--mix", "commerce", "--accounts", "20", "--txs", "100",
                                 "--grid", "--rates", "100,200", "--out", str(out)], capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, result.stderr
        assert "offered" in result.stdout and "sent" in result.stdout and "this machine's bound" in result.stdout
        grid = json.loads((out / "grid.json").read_text())
        assert [point["offered_tx_per_s"] for point in grid["points"]] == [100, 200]
        assert all(0 < point["sent_tx_per_s"] <= point["offered_tx_per_s"] for point in grid["points"])
        assert (out / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explorer_and_metrics_are_served(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 2)
            base = rpc_url(cluster, "node0")[: -len("/rpc")]
            async with aiohttp.ClientSession() as session:
                async with session.get(base + "/") as page:
                    assert page.status == 200 and page.content_type == "text/html"
                    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
                async with session.get(base + "/order/" + "ab" * 32) as deep_link:
                    assert deep_link.status == 200 and deep_link.content_type == "text/html"
                async with session.get(base + "/static/explorer.js") as module:
                    script = await module.text()
                    assert module.status == 200 and module.content_type == "text/javascript"
                async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                    served = {method["name"]: {param["name"] for param in method["params"]}
                              for method in (await client.call("rpc.discover"))["methods"]}
                    status_before = await client.chain_status()
                    async with session.get(base + "/metrics") as metrics:
                        text = await metrics.text()
                    status_after = await client.chain_status()
            called = set(re.findall(r'rpc\("([a-z_.]+)"', script))
            lookups = re.findall(r'"([a-z_]+_get)", "([a-z_]+)"\]', script)
            assert called and lookups, "the page's calls were not found: update this test with the page"
            assert called | {method for method, _ in lookups} <= set(served), "the page calls a method the node does not serve"
            assert all(param in served[method] for method, param in lookups), "the page passes a parameter the method lacks"
            samples = {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}
            assert status_before["height"] <= samples["shopchain_height"] <= status_after["height"]
            assert samples["shopchain_peers"] == len(status_after["peers"]) == 3
        run(scenario())


def test_subscribers_hear_blocks_and_the_events_of_their_topics(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 1)
            receiver = KeyPair.generate()
            async with ShopchainClient(rpc_url(cluster, "node3")) as listener:
                account_events = listener.subscribe(f"events:account:{receiver.address}")
                blocks = listener.subscribe("blocks")
                first_block = asyncio.ensure_future(blocks.__anext__())
                first_event = asyncio.ensure_future(account_events.__anext__())
                await asyncio.wait_for(first_block, 30)
                async with ShopchainClient(rpc_url(cluster, "node0")) as sender:
                    minted = await sender.send(admin_key(cluster), "funds.mint", {"to": receiver.address, "amount": 9})
                notification = await asyncio.wait_for(first_event, 30)
                await account_events.aclose()
                await blocks.aclose()
            assert notification["tx_id"] == minted.id and notification["height"] == minted.height
            assert notification["event"] == {"kind": "funds.minted", "to": receiver.address, "amount": 9, "asset": "SHC"}
        run(scenario())


def test_five_stage_trace_recorded_through_one_node_verifies_event_by_event_from_another(tmp_path):
    stages = ("procurement", "production", "warehousing", "transit", "delivery")
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario() -> str:
            await wait_height(cluster, ALL, 1)
            admin, merchant = admin_key(cluster), KeyPair.generate()
            async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                await client.send(admin, "account.register", {"name": "Tea farm", "account": merchant.address})
                await client.send(merchant, "account.request_role", {"role": "merchant", "profile_hash": b"\x02" * 32})
                await client.send(admin, "account.approve", {"account": merchant.address, "role": "merchant"})
                listed = await client.send(merchant, "product.list", {"sku": "tea", "title": "Green tea", "price": 9,
                                                                       "stock": 100, "category": "food"})
                assert listed.ok, listed
                subject = f"{merchant.address}/tea/lot7"
                for index, stage in enumerate(stages):
                    recorded = await client.send(merchant, "trace.record", {
                        "subject": subject, "stage": stage, "location": f"site {index}", "handler": f"hand {index}",
                        "data_hash": bytes([index]) * 32})
                    assert recorded.ok, recorded
            await wait_height(cluster, ["node3"], recorded.height)
            return subject
        subject = run(scenario())
        genesis = cluster.testnet.nodes[0].home / "genesis.json"
        proven = subprocess.run([sys.executable, "-m", "cli", "verify", "trace", subject, "--rpc", rpc_url(cluster, "node3"),
                                 "--genesis", str(genesis), "--json"], capture_output=True, text=True, timeout=60)
        assert proven.returncode == 0, proven.stderr
        trace = json.loads(proven.stdout)["trace"]
        assert [(event["stage"], event["location"], event["handler"]) for event in trace["events"]] == [
            (stage, f"site {index}", f"hand {index}") for index, stage in enumerate(stages)]
        exported = subprocess.run([sys.executable, "-m", "cli", "query", "trace-export", subject, "--rpc",
                                   rpc_url(cluster, "node3")], capture_output=True, text=True, timeout=60)
        assert exported.returncode == 0, exported.stderr
        document = json.loads(exported.stdout)
        assert (document["type"], document["schemaVersion"]) == ("EPCISDocument", "2.0")
        assert [event["bizStep"] for event in document["epcisBody"]["eventList"]] == [
            "receiving", "commissioning", "storing", "transporting", "arriving"]
        # A proxy that drops one event of the trace cannot make it verify.
        with LyingProxy(rpc_url(cluster, "node3"), drop_one_trace_event) as proxy:
            lied = subprocess.run([sys.executable, "-m", "cli", "verify", "trace", subject, "--rpc", proxy.url,
                                   "--genesis", str(genesis)], capture_output=True, text=True, timeout=60)
        assert lied.returncode == 1 and lied.stderr.startswith("verify.failed:"), lied.stderr
