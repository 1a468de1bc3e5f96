"""Four validators as separate processes on loopback: commits, crashes,
restarts, wiped data, lost sign_state files, a stopped primary."""
import subprocess
import sys

import pytest

from chain.encoding import pack
from chain.keys import KeyPair
from chain.light import Trust
from commerce import queries
from commerce.keys import balance_key
from node.client import ShopchainClient
from node.home import open_home
from node.vote_log import VOTE_LOG_FILE, read_votes
from tests.cluster.clusterutil import (admin_key, block_hash, converged, heights, home_of, lose_data, rpc_url, run,
                                       running_testnet, wait_health, wait_height)

pytestmark = pytest.mark.slow
ALL = ["node0", "node1", "node2", "node3"]


def test_transaction_submitted_to_one_node_reads_back_identically_from_another(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 2)
            receiver = KeyPair.generate()
            async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                submitted = await client.send(admin_key(cluster), "funds.mint", {"to": receiver.address, "amount": 777})
            assert submitted.ok and submitted.height >= 1
            await wait_height(cluster, ALL, submitted.height)
            async with ShopchainClient(rpc_url(cluster, "node3")) as client:
                seen = await client.tx_get(submitted.id)
                account = await client.account_get(receiver.address)
            assert (seen["height"], seen["index"], seen["ok"], seen["events"]) == (submitted.height, submitted.index, True, list(submitted.events))
            assert account["balances"]["SHC"] == 777
            hashes = {await block_hash(cluster, name, submitted.height) for name in ALL}
            assert len(hashes) == 1
            # The balance proven from node3's answer, against the genesis alone.
            key = balance_key(receiver.address, "SHC")
            trust = Trust.from_genesis(open_home(cluster.testnet.nodes[0].home).genesis)
            async with ShopchainClient(rpc_url(cluster, "node3")) as client:
                values, verified = await client.verify_state(trust, [key])
            assert values == {key: pack(777)} and verified.height >= submitted.height and verified.signers >= 3
        run(scenario())


def test_killed_validator_catches_up_by_sync_and_converges(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 2)
            cluster.kill("node3")
            start = max((await heights(cluster, ALL[:3])).values())
            await wait_height(cluster, ALL[:3], start + 5)
            cluster.start("node3")
            cluster.wait_ready("node3")
            target = max((await heights(cluster, ALL[:3])).values())
            await wait_height(cluster, ["node3"], target)
            convergence = await converged(cluster)
            assert convergence.height >= target and convergence.diverging_heights == []
            # Its state tree came back whole: what it proves checks against the certified headers.
            trust = Trust.from_genesis(open_home(home_of(cluster, "node3")).genesis)
            admin = admin_key(cluster)
            async with ShopchainClient(rpc_url(cluster, "node3")) as client:
                account, verified = await client.verify_query(trust, lambda state: queries.account_get(state, admin.address))
            assert account["nonce"] >= 0 and account["balances"]["SHC"] > 0 and verified.height >= target
        run(scenario())


def test_wiped_validator_resyncs_from_genesis_and_votes_again(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 3)
            cluster.kill("node2")
            lose_data(cluster, "node2")
            assert (home_of(cluster, "node2") / "sign_state").exists()
            cluster.start("node2")
            cluster.wait_ready("node2")
            target = max((await heights(cluster, ["node0", "node1", "node3"])).values())
            await wait_height(cluster, ["node2"], target)
            assert await block_hash(cluster, "node2", target) == await block_hash(cluster, "node0", target)
            # With node3 down, the chain needs node2's votes to go on.
            cluster.stop("node3")
            now = max((await heights(cluster, ["node0", "node1", "node2"])).values())
            await wait_height(cluster, ["node0", "node1", "node2"], now + 3)
            assert (await converged(cluster, ["node0", "node1", "node2"])).diverging_heights == []
        run(scenario())


def test_two_validators_without_sign_state_stall_the_chain_until_their_operators_declare_it(tmp_path):
    """More than f validators lost their files: recovery waits for a block
    that needs their votes, so nothing commits. Each operator then declares,
    from the validator's vote log, the height from which it signed nothing;
    the chain goes on, with no double-sign (the harness audits the logs)."""
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 2)
            cluster.kill("node3")
            start = max((await heights(cluster, ALL[:3])).values())
            await wait_height(cluster, ALL[:3], start + 2)
            cluster.kill("node2")
            lost = ["node2", "node3"]
            for name in lost:
                (home_of(cluster, name) / "sign_state").unlink()
                cluster.start(name)
            for name in lost:
                cluster.wait_ready(name)
            body = await wait_health(cluster, "node0", 503)
            assert "no_commit" in body["reasons"]
            stuck = (await heights(cluster, ["node0"]))["node0"]
            for name in lost:
                cluster.stop(name)
                signed_to = max(vote["height"] for vote in read_votes(home_of(cluster, name) / VOTE_LOG_FILE))
                declared = subprocess.run(
                    [sys.executable, "-m", "cli", "node", "declare-sign-state", "--home", str(home_of(cluster, name)),
                     "--signed-nothing-from", str(signed_to + 1), "--confirm"], capture_output=True, text=True, timeout=60)
                assert declared.returncode == 0, declared.stderr
            assert (await heights(cluster, ["node0", "node1"])) == {"node0": stuck, "node1": stuck}
            for name in lost:
                cluster.start(name)
            await wait_height(cluster, ALL, stuck + 3, deadline_s=120)
            assert (await converged(cluster)).diverging_heights == []
        run(scenario())


def test_stopped_primary_is_replaced_by_a_view_change(tmp_path):
    with running_testnet(tmp_path / "net") as cluster:
        async def scenario():
            await wait_height(cluster, ALL, 2)
            stopped = "node1"
            cluster.stop(stopped)
            others = [name for name in ALL if name != stopped]
            start = max((await heights(cluster, others)).values())
            await wait_height(cluster, others, start + 5)
            # Of four consecutive heights, one has node1 as its view-0 primary:
            # it was committed in a later view, proposed by someone else.
            stopped_key = next(key for key, node in zip(validator_keys(cluster), ALL) if node == stopped)
            async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                proposers = [(await client.block_get(h))["header"]["proposer"] for h in range(start + 2, start + 6)]
                status = await client.chain_status()
            assert stopped_key not in proposers
            assert len({await block_hash(cluster, name, start + 5) for name in others}) == 1
            assert status["height"] >= start + 5
        run(scenario())


def validator_keys(cluster) -> list[str]:
    return [open_home(node.home).key.address for node in cluster.testnet.nodes]
