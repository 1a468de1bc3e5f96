"""A client that floods one node's RPC port from 127.0.0.2: over-cap bodies,
batches, deep JSON and many connections, until killed. Run as a process:
``python -m tests.cluster.flooder URL``; prints one line when flooding."""
import asyncio
import json
import sys

import aiohttp

SOURCE = "127.0.0.2"
BODY_CAP = 1024 * 1024
IDLE_CONNECTIONS = 300


async def hammer(session: aiohttp.ClientSession, url: str, body: bytes, counts: dict, name: str) -> None:
    """Send ``body`` again and again; print the counts every 100 answers of any kind."""
    while True:
        try:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
                await response.read()
                counts[name] = counts.get(name, 0) + 1
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            counts["refused"] = counts.get("refused", 0) + 1
        if sum(counts.values()) % 100 == 0:
            print(json.dumps(counts), flush=True)


async def idle(url: str, held: list) -> None:
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    for _ in range(IDLE_CONNECTIONS):
        try:
            held.append(await asyncio.open_connection(host, int(port), local_addr=(SOURCE, 0)))
        except OSError:
            return


async def main(url: str) -> None:
    over_cap = b'{"jsonrpc": "2.0", "id": 1, "method": "chain_status", "params": {"x": "' + b"a" * (BODY_CAP + BODY_CAP // 2) + b'"}}'
    batch = json.dumps([{"jsonrpc": "2.0", "id": i, "method": "chain_status"} for i in range(100)]).encode()
    deep = b'{"jsonrpc": "2.0", "id": 1, "method": "chain_status", "params": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    counts: dict = {}
    held: list = []
    connector = aiohttp.TCPConnector(local_addr=(SOURCE, 0), limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        tasks = [asyncio.ensure_future(hammer(session, url, body, counts, name))
                 for name, body, copies in (("over_cap", over_cap, 4), ("batch", batch, 16), ("deep", deep, 8))
                 for _ in range(copies)]
        tasks.append(asyncio.ensure_future(idle(url, held)))
        print("flooding", flush=True)
        await asyncio.gather(*tasks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
