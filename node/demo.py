"""`make run`: a local 4-validator testnet and a live demo workload.

Initialises a fresh testnet under ./scratch/testnet, starts its four nodes
as child processes, and walks through what the chain is for, printing each
step: merchants approved and listing products, a product lot traced from
procurement through production to the warehouse (with a correction), a
limited coupon batch selling out (online and offline), shoppers ordering
with coupons, a carrier tracing shipments to delivery, auto-confirm paying
merchant, agent and validators (broken down by recipient), and a
three-party contract executing itself; each object with its full id and
explorer address, every role's key saved under scratch/testnet/keys. Then
a light live workload runs until Ctrl-C, which stops every process the
demo started.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from chain.keys import KeyPair, load_key_file, save_key_file
from node.client import ShopchainClient, SubmitResult
from node.cluster import Cluster
from node.testnet import init_testnet

SCRATCH = Path("scratch") / "testnet"
BASE_PORT = 26656
SHOPPERS = 6
COUPONS_TOTAL = 4
COUPONS_OFFLINE = 1


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def say(text: str = "") -> None:
    print(text, flush=True)


class Demo:
    def __init__(self, client: ShopchainClient, admin: KeyPair, cli_rpc: str, keys_dir: Path) -> None:
        self.client, self.admin, self.rpc = client, admin, cli_rpc
        self.explorer = cli_rpc[: -len("/rpc")]
        self.keys_dir = keys_dir
        self.names: dict[str, KeyPair] = {}
        self.known: dict[str, str] = {}      # other addresses worth a name: address -> name

    def show(self, what: str, path: str) -> None:
        """An object the demo made: its full id and its explorer page."""
        say(f"  {what}: {self.explorer}/{path}")

    async def send(self, key: KeyPair, kind: str, body: dict[str, Any], quiet: bool = False) -> SubmitResult:
        result = await self.client.send(key, kind, body)
        if not quiet:
            outcome = "ok" if result.ok else f"refused {result.code}: {result.message}"
            say(f"  h{result.height:<4} {kind:<22} {outcome}")
        return result

    async def person(self, name: str, *roles: str, referrer: KeyPair | None = None, funds: int = 0) -> KeyPair:
        key = KeyPair.generate()
        self.names[name] = key
        save_key_file(self.keys_dir / f"{name}.json", key)
        body: dict[str, Any] = {"name": name}
        if referrer is not None:
            body["referrer"] = referrer.address
        await self.send(key, "account.register", body, quiet=True)
        for role in roles:
            await self.send(key, "account.request_role", {"role": role, "profile_hash": digest(name)}, quiet=True)
            await self.send(self.admin, "account.approve", {"account": key.address, "role": role}, quiet=True)
        if funds:
            await self.send(self.admin, "funds.mint", {"to": key.address, "amount": funds}, quiet=True)
        say(f"  {name:<10} {key.address}  {', '.join(('consumer',) + roles)}  key {self.keys_dir / f'{name}.json'}")
        return key

    async def balance(self, key: KeyPair) -> int:
        return (await self.client.account_get(key.address))["balances"].get("SHC", 0)

    async def run(self) -> None:
        say("\n== People: an admin approves merchants, an agent and a carrier")
        agent = await self.person("agent", "agent")
        tea = await self.person("tea-shop", "merchant")
        carrier = await self.person("post", "carrier")
        shoppers = [await self.person(f"shopper{i}", referrer=agent if i % 2 == 0 else None, funds=100_000) for i in range(SHOPPERS)]

        say("\n== Products")
        await self.send(tea, "product.list", {"sku": "oolong", "title": "Oolong tea 100 g", "price": 12_000, "stock": 50, "category": "tea"})
        self.show("product", f"product/{tea.address}/oolong")

        lot = f"{tea.address}/oolong/L1"
        say("\n== A lot of that product, traced before anything ships: procurement, production, warehousing")
        for stage, location, handler in (("procurement", "Fujian tea garden", "garden co-op"), ("production", "Anxi roastery", "roaster"),
                                         ("warehousing", "Xiamen warehouse", "tea-shop")):
            await self.send(tea, "trace.record", {"subject": lot, "stage": stage, "location": location, "handler": handler,
                                                  "data_hash": digest(lot + stage)})
        await self.send(tea, "trace.correct", {"subject": lot, "event": 1, "reason": "roasted in Anxi, not Fujian",
                                               "data_hash": digest(lot + "correction")})
        self.show("lot trace", f"trace/{lot}")
        say(f"  as GS1 EPCIS 2.0: shopchain query trace-export {lot} --rpc {self.rpc}")

        say(f"\n== A limited coupon batch: {COUPONS_TOTAL} coupons, {COUPONS_OFFLINE} kept for the shop counter")
        status = await self.client.chain_status()
        batch = (await self.send(tea, "coupon.issue", {
            "brand": "Tea Shop", "content": "2,000 off any order", "discount": {"kind": "amount", "value": 2_000},
            "price": 500, "total": COUPONS_TOTAL, "offline_quota": COUPONS_OFFLINE, "valid_from": 0,
            "valid_until": status["last_block_time_ms"] + 24 * 3600 * 1000, "serial_prefix": "TEA"})).id
        coupons: dict[str, str] = {}
        for shopper_index, shopper in enumerate(shoppers):
            bought = await self.send(shopper, "coupon.buy", {"batch": batch})
            if bought.ok:
                coupons[shopper.address] = next(e["coupon"] for e in bought.events if e["kind"] == "coupon.sold")
        await self.send(tea, "coupon.record_sale", {"batch": batch, "buyer": KeyPair.generate().address, "evidence_hash": digest("receipt-1")})
        view = await self.client.query("coupon_batch_get", batch=batch)
        say(f"  batch: total {view['total']}, sold online {view['sold_online']}, offline {view['sold_offline']} — never oversold")
        self.show("coupon batch", f"coupon-batch/{batch}")

        say("\n== Shoppers order with their coupons; the shop ships; the carrier traces to delivery")
        orders = []
        for shopper in shoppers[:3]:
            body: dict[str, Any] = {"merchant": tea.address, "items": [{"sku": "oolong", "qty": 1}], "shipping_hash": digest(shopper.address)}
            if shopper.address in coupons:
                body["coupon"] = coupons[shopper.address]
            order = await self.send(shopper, "order.create", body)
            orders.append((shopper, order.id))
        for _, order_id in orders:
            await self.send(tea, "order.ship", {"order": order_id, "carrier": carrier.address, "tracking": f"TRK-{order_id[:6]}"})
            for stage in ("transit", "delivery"):
                await self.send(carrier, "trace.record", {"subject": order_id, "stage": stage, "location": stage, "handler": "post",
                                                          "data_hash": digest(order_id + stage)})
        for _, order_id in orders:
            self.show("order", f"order/{order_id}")
        self.show("its parcel's trace", f"trace/{orders[0][1]}")

        before = {name: await self.balance(key) for name, key in (("tea-shop", tea), ("agent", agent))}
        say("\n== Waiting for auto-confirm (15 s after delivery on this testnet) …")
        await self.wait_settled([order_id for _, order_id in orders])
        for name, key in (("tea-shop", tea), ("agent", agent)):
            say(f"  {name:<10} balance {before[name]:>8} SHC -> {await self.balance(key):>8} SHC")
        await self.settlement(orders[0][1])

        say("\n== A three-party contract executes itself at settle_at")
        await self.send(tea, "asset.issue", {"symbol": "TEA-SHARE", "name": "Tea shop shares", "supply": 1_000})
        now = (await self.client.chain_status())["last_block_time_ms"]
        parties = shoppers[3:6]
        contract = (await self.send(tea, "contract.create", {
            "asset": "TEA-SHARE", "price_per_unit": 10, "parties": [{"account": p.address, "units": 100} for p in parties],
            "settle_at": now + 5_000, "expires_at": now + 60_000, "document_hash": digest("contract")})).id
        for party in parties:
            await self.send(party, "contract.sign", {"contract": contract})
        state = await self.wait_contract(contract)
        say(f"  contract {contract} is {state}")
        self.show("contract", f"contract/{contract}")

    async def settlement(self, order_id: str) -> None:
        """Where one order's escrow went, by recipient."""
        order = await self.client.query("order_get", order=order_id)
        treasury = (await self.client.query("genesis_get"))["document"]["treasury"]
        names = {treasury: "the chain's treasury", **self.known, **{key.address: name for name, key in self.names.items()}}
        say(f"  order {order_id}: escrow {order['escrow']} SHC went to")
        for payout in order["payouts"]:
            who = names.get(payout["to"], payout["to"])
            say(f"    {payout['role']:<10} {payout['amount']:>8} SHC  {who}")
        say(f"    {'in all':<10} {sum(payout['amount'] for payout in order['payouts']):>8} SHC")

    async def wait_settled(self, order_ids: list[str]) -> None:
        while True:
            states = [(await self.client.query("order_get", order=order_id))["state"] for order_id in order_ids]
            if all(state == "settled" for state in states):
                say(f"  {len(order_ids)} orders settled: merchant, agent, validators and treasury paid")
                return
            await asyncio.sleep(1)

    async def wait_contract(self, contract: str) -> str:
        while True:
            state = (await self.client.query("contract_get", contract=contract))["state"]
            if state not in ("open", "signed"):
                return state
            await asyncio.sleep(1)

    async def live(self) -> None:
        say("\n== Live workload: a transfer between shoppers every second (Ctrl-C stops everything)")
        keys = list(self.names.values())
        count = 0
        while True:
            sender, receiver = keys[count % len(keys)], keys[(count + 1) % len(keys)]
            await self.client.send(sender, "funds.transfer", {"to": receiver.address, "amount": 1}, wait="mempool")
            count += 1
            await asyncio.sleep(1)


async def main_async(cluster: Cluster) -> None:
    rpc = cluster.testnet.nodes[0].rpc_url
    async with ShopchainClient(rpc) as client:
        keys_dir = SCRATCH / "keys"
        keys_dir.mkdir(parents=True, exist_ok=True)
        demo = Demo(client, load_key_file(cluster.testnet.admin_key_path), rpc, keys_dir)
        for node in cluster.testnet.nodes:      # validators are named after their nodes in the settlement
            demo.known[load_key_file(node.home / "node_key.json").address] = f"validator of {node.name}"
        await demo.run()
        say("\n== Where to look")
        for node in cluster.testnet.nodes:
            explorer = node.rpc_url[: -len("/rpc")] + "/"
            say(f"  {node.name}: RPC {node.rpc_url}   explorer {explorer}   metrics {explorer}metrics   log {node.home / 'node.log'}")
        say(f"  every role's key: {keys_dir}/NAME.json;  the admin's: {cluster.testnet.admin_key_path}")
        say(f"  any getter: shopchain query --help;  a transaction: shopchain tx KIND --key {keys_dir}/tea-shop.json --rpc {rpc} …")
        await demo.live()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.demo", description="A local testnet with a live demo.")
    parser.add_argument("--base-port", type=int, default=BASE_PORT,
                        help="node i listens for peers on base+2i and for RPC on base+2i+1")
    options = parser.parse_args(argv)
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    testnet = init_testnet(SCRATCH, 4, options.base_port, "shopchain-demo")
    cluster = Cluster(testnet)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C even when started with SIGINT ignored
    signal.signal(signal.SIGTERM, _interrupt)
    interrupted = False
    try:
        say(f"Starting a 4-validator testnet in {SCRATCH} …")
        cluster.start_all()
        for node in testnet.nodes:
            cluster.wait_ready(node.name)
            say(f"  {node.name} ready: rpc {node.rpc_url}")
        asyncio.run(main_async(cluster))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # A second Ctrl-C must not cut the clean-up short: ignored before anything is said.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if interrupted:
            say("\nStopping every node …")
        cluster.stop_all()
        say("All nodes stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
