"""`make run`'s demo: the walkthrough completes on a real testnet, and
Ctrl-C (pressed twice, impatiently) still stops every process it started."""
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from tests.cluster.clusterutil import alive, children_of, free_port_base, read_lines, wait_for_line

pytestmark = pytest.mark.slow
WALKTHROUGH_DEADLINE_S = 180


@pytest.mark.timeout(WALKTHROUGH_DEADLINE_S + 90)
def test_demo_walks_through_and_ctrl_c_stops_everything(tmp_path):
    demo = subprocess.Popen([sys.executable, "-m", "node.demo", "--base-port", str(free_port_base(8))], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(demo.stdout, lines), daemon=True).start()
    nodes: list[int] = []
    try:
        printed = "\n".join(wait_for_line(lines, "== Live workload", WALKTHROUGH_DEADLINE_S))
        for expected in ("refused coupon.sold_out", "never oversold", "orders settled", "is executed", "== Where to look",
                         "trace.record", "trace.correct", "lot trace: http://127.0.0.1:", "coupon batch: http://127.0.0.1:",
                         "contract: http://127.0.0.1:", "treasury", "validator", "in all"):
            assert expected in printed, printed
        # every role's key is saved, each object is printed with its full id, and the settlement adds up
        keys = sorted(path.name for path in (tmp_path / "scratch" / "testnet" / "keys").iterdir())
        assert {"tea-shop.json", "agent.json", "post.json", "shopper0.json"} <= set(keys), keys
        assert re.search(r"order: http://127\.0\.0\.1:\d+/order/[0-9a-f]{64}$", printed, re.M), printed
        escrow = int(re.search(r"escrow (\d+) SHC went to", printed)[1])
        shares = [int(share) for share in re.findall(r"^    (?:merchant|treasury|validator|agent|buyer) +(\d+) SHC", printed, re.M)]
        assert sum(shares) == escrow == int(re.search(r"in all +(\d+) SHC", printed)[1]) and len(shares) >= 6
        check_lot_export(printed)
        nodes = children_of(demo.pid)
        assert len(nodes) == 4
        demo.send_signal(signal.SIGINT)
        wait_for_line(lines, "Stopping every node", 10)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        wait_for_line(lines, "All nodes stopped.", 5)
        assert not any(alive(pid) for pid in nodes)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=30)
        for pid in nodes:
            if alive(pid):
                subprocess.run(["kill", "-9", str(pid)], check=False)


def check_lot_export(printed: str) -> None:
    """The demo lot's trace as EPCIS 2.0: every field the export promises, one
    event per recorded stage plus one per correction, in time order, each
    correction declaring an event of the document."""
    rpc = re.search(r"node0 ready: rpc (\S+)", printed)[1]
    lot = re.search(r"lot trace: \S+/trace/(\S+)$", printed, re.M)[1]
    call = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "trace_export", "params": {"subject": lot}}).encode()
    request = urllib.request.Request(rpc, call, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        document = json.loads(answer.read())["result"]["document"]
    assert document["@context"] and document["type"] == "EPCISDocument" and document["schemaVersion"] == "2.0"
    assert document["creationDate"].endswith("Z")
    events = document["epcisBody"]["eventList"]
    assert [event["bizStep"] for event in events] == ["receiving", "commissioning", "storing", "commissioning"]
    for event in events:
        assert event["type"] == "ObjectEvent" and event["eventID"].startswith("urn:shopchain:")
        assert {"eventTime", "eventTimeZoneOffset", "action", "readPoint", "bizLocation", "quantityList"} <= set(event)
    assert [event["recordTime"] for event in events] == sorted(event["recordTime"] for event in events)
    [declaration] = [event for event in events if "errorDeclaration" in event]
    assert declaration["eventID"] in {event["eventID"] for event in events if "errorDeclaration" not in event}
