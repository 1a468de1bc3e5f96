"""The explorer in a real headless Chromium against a real testnet: every
object page loads by its deep link on a phone-sized and a desktop-sized
window without horizontal overflow or console errors; the search box
lands a height, an address and a coupon serial on their pages; text users
wrote on chain is shown as text, never run."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Callable

import aiohttp

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from chain.keys import KeyPair
from node.client import ShopchainClient
from tests.cluster.clusterutil import admin_key, rpc_url, run, running_testnet, wait_height
from tests.docs.test_protocol_doc import DOC_VECTORS

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE_NAME = "<img src=x onerror=\"document.title='owned'\">"
SIZES = [(375, 812), (1280, 900)]
SCREENSHOTS = Path(os.environ.get("TEST_OUTPUT", "test-output")) / "explorer"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads, tmp_path_factory):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Chromium and its driver are missing: `make test` installs them (apt-get chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # Chromium leaves its profile's singleton-socket folder in TMPDIR: keep it among the test's own files.
    scratch = tmp_path_factory.mktemp("chromium-tmp")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER, env={**os.environ, "TMPDIR": str(scratch)}), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def story(cluster) -> dict[str, str]:
    """A merchant (named to attack the page), a product, a coupon batch with a coupon sold, an order and a lot's trace."""
    async def scenario() -> dict[str, str]:
        await wait_height(cluster, ["node0"], 1)
        admin, merchant, buyer = admin_key(cluster), KeyPair.generate(), KeyPair.generate()
        async with ShopchainClient(rpc_url(cluster, "node0")) as client:
            for key, name in ((merchant, HOSTILE_NAME), (buyer, "Ann")):
                await client.send(admin, "account.register", {"name": name, "account": key.address})
                await client.send(admin, "funds.mint", {"to": key.address, "amount": 100_000})
            await client.send(merchant, "account.request_role", {"role": "merchant", "profile_hash": b"\x01" * 32})
            await client.send(admin, "account.approve", {"account": merchant.address, "role": "merchant"})
            await client.send(merchant, "product.list", {"sku": "tea", "title": HOSTILE_NAME, "price": 900, "stock": 50,
                                                          "category": "food"})
            status = await client.chain_status()
            batch = await client.send(merchant, "coupon.issue", {
                "brand": "Tea house", "content": "1 off", "discount": {"kind": "amount", "value": 100}, "price": 50,
                "total": 5, "valid_from": 0, "valid_until": status["last_block_time_ms"] + 3_600_000, "serial_prefix": "TEA"})
            bought = await client.send(buyer, "coupon.buy", {"batch": batch.id})
            order = await client.send(buyer, "order.create", {"merchant": merchant.address, "items": [{"sku": "tea", "qty": 1}],
                                                              "shipping_hash": b"\x02" * 32})
            carrier = KeyPair.generate()
            await client.send(admin, "account.register", {"name": "post", "account": carrier.address})
            await client.send(carrier, "account.request_role", {"role": "carrier", "profile_hash": b"\x04" * 32})
            await client.send(admin, "account.approve", {"account": carrier.address, "role": "carrier"})
            steps = [await client.send(merchant, "order.ship", {"order": order.id, "carrier": carrier.address, "tracking": "TRK-1"}),
                     await client.send(carrier, "trace.record", {"subject": order.id, "stage": "delivery", "location": "door",
                                                                 "handler": "post", "data_hash": b"\x05" * 32}),
                     await client.send(buyer, "order.confirm", {"order": order.id})]
            lot = f"{merchant.address}/tea/L1"
            traced = await client.send(merchant, "trace.record", {"subject": lot, "stage": "procurement", "location": HOSTILE_NAME,
                                                                  "handler": "farm", "data_hash": b"\x03" * 32})
            corrected = await client.send(merchant, "trace.correct", {"subject": lot, "event": 0, "reason": "wrong farm",
                                                                       "data_hash": b"\x06" * 32})
            await client.send(merchant, "asset.issue", {"symbol": "TEA-SHARE", "name": "Tea shares", "supply": 100})
            now = (await client.chain_status())["last_block_time_ms"]
            contract = await client.send(merchant, "contract.create", {
                "asset": "TEA-SHARE", "price_per_unit": 10, "parties": [{"account": buyer.address, "units": 5}],
                "settle_at": now + 3_600_000, "expires_at": now + 7_200_000, "document_hash": b"\x07" * 32})
            signed = await client.send(buyer, "contract.sign", {"contract": contract.id})
            assert all(result.ok for result in (batch, bought, order, traced, corrected, contract, signed, *steps)), \
                [r.code for r in (contract, signed, *steps)]
        return {"block": str(traced.height), "tx": bought.id, "account": merchant.address,
                "product": f"{merchant.address}/tea", "order": order.id, "coupon-batch": batch.id,
                "coupon": f"{batch.id}/1", "trace": lot, "merchant": merchant.address, "contract": contract.id}
    return run(scenario())


def load(driver, url: str, heading: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith(heading))      # live pages re-render


def live_text(driver, element_id: str, expected: str) -> str:
    """The text of a part of a live page (re-rendered on every block, so an
    element found may be replaced before it is read) once it shows ``expected``,
    or its last text after the wait."""
    seen = {"text": ""}

    def shows(d) -> bool:
        seen["text"] = d.find_element(By.ID, element_id).text
        return expected in seen["text"]
    try:
        WebDriverWait(driver, 20, ignored_exceptions=[StaleElementReferenceException]).until(shows)
    except TimeoutException:
        pass
    return seen["text"]


def badge(driver) -> str:
    """The badge's text once the page has checked what it shows."""
    WebDriverWait(driver, 30, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda d: "pending" not in d.find_element(By.ID, "badge").get_attribute("class"))
    return driver.find_element(By.ID, "badge").text


def test_every_object_page_loads_by_its_deep_link_fits_a_phone_and_runs_no_user_text(tmp_path, browser):
    with running_testnet(tmp_path / "net") as cluster:
        objects = story(cluster)
        base = rpc_url(cluster, "node0")[: -len("/rpc")]
        headings = {"block": "Block", "tx": "Transaction", "account": "Account", "product": "Product", "order": "Order",
                    "coupon-batch": "Coupon batch", "coupon": "Coupon", "trace": "Trace", "contract": "Contract"}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in SIZES:
            browser.set_window_size(width, height)
            for kind, heading in headings.items():
                load(browser, f"{base}/{kind}/{objects[kind]}", heading)
                assert badge(browser).startswith("verified at height"), (kind, badge(browser))
                assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (kind, width)
                browser.save_screenshot(str(SCREENSHOTS / f"{kind}-{width}.png"))
            load(browser, f"{base}/", "Chain")
        load(browser, f"{base}/", "Chain")
        assert objects["order"] in live_text(browser, "latest-order", objects["order"])
        assert objects["coupon-batch"] in live_text(browser, "latest-coupon-batch", objects["coupon-batch"])
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []
        load(browser, f"{base}/order/{objects['order']}", "Order")
        assert badge(browser).startswith("verified at height")
        timeline = browser.find_element(By.ID, "order-timeline").text
        assert [line.split(" · ")[0] for line in timeline.splitlines()] == ["created", "shipped", "delivered", "settled"]
        rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#settlement tr")]
        assert rows[0].startswith("merchant") and rows[-1].startswith("escrow") and rows[-1].endswith("900 SHC"), rows
        amounts = [int(cell.text.split()[0].replace(",", "")) for cell in browser.find_elements(By.CSS_SELECTOR, "#settlement td.num")]
        assert sum(amounts[:-1]) == amounts[-1] == 900 and len(amounts) == 1 + 1 + 4 + 1    # merchant, treasury, 4 validators
        load(browser, f"{base}/contract/{objects['contract']}", "Contract")
        assert badge(browser).startswith("verified at height")
        assert "1 of 1 parties signed" in browser.find_element(By.ID, "page").text
        assert browser.find_element(By.ID, "parties").text.endswith("5 TEA-SHARE signed")
        load(browser, f"{base}/trace/{objects['trace']}", "Trace")
        assert "Corrected" in browser.find_element(By.ID, "trace-timeline").text
        assert "wrong farm" in browser.find_element(By.ID, "trace-timeline").text
        load(browser, f"{base}/product/{objects['product']}", "Product")
        assert HOSTILE_NAME in browser.find_element(By.ID, "page").text           # shown as text …
        assert browser.find_elements(By.CSS_SELECTOR, "#page img") == []          # … never as markup
        assert browser.title != "owned"
        for needle, heading, path in ((objects["block"], "Block", f"/block/{objects['block']}"),
                                      (objects["merchant"], "Account", f"/account/{objects['merchant']}"),
                                      (objects["order"], "Order", f"/order/{objects['order']}"),
                                      ("TEA-1", "Coupon", f"/coupon/{objects['coupon']}"),
                                      ("TRK-1", "Order", f"/order/{objects['order']}")):
            load(browser, f"{base}/", "Chain")
            box = browser.find_element(By.ID, "needle")
            box.send_keys(needle)
            box.submit()
            WebDriverWait(browser, 20).until(lambda d: d.current_url.endswith(path))
            load(browser, browser.current_url, heading)


def test_the_protocol_vectors_pass_through_the_pages_decoder_and_verifier_with_either_crypto(tmp_path, browser):
    """docs/protocol.md's vectors, run in the page's own modules, once with
    WebCrypto and once with the vendored libraries a phone on plain http uses."""
    with running_testnet(tmp_path / "net") as cluster:
        run(wait_height(cluster, ["node0"], 1))
        base = rpc_url(cluster, "node0")[: -len("/rpc")]
        for mode in ("", "?crypto=fallback"):
            load(browser, f"{base}/{mode}", "Chain")
            outcome = browser.execute_async_script(VECTOR_SCRIPT, DOC_VECTORS)
            assert outcome["errors"] == [], outcome
            assert outcome["path"] == ("fallback" if mode else "webcrypto")


VECTOR_SCRIPT = """
const [vectors, done] = arguments;
(async () => {
  const v = await import('/static/verify.js');
  const errors = [];
  const check = (ok, what) => { if (!ok) errors.push(what); };
  const hex = v.fromHex, toHex = v.toHex;
  try {
    const tx = vectors.transaction;
    check(toHex(v.pack(v.unpack(hex(tx.tx)))) === tx.tx, 'transaction round trip');
    check(toHex(await v.sha256(hex(tx.tx))) === tx.id, 'transaction id');
    check(await v.verifySignature(hex(tx.public_key), hex(tx.signing_bytes), hex(tx.signature)), 'transaction signature');
    const bad = hex(tx.signature); bad[0] ^= 1;
    check(!(await v.verifySignature(hex(tx.public_key), hex(tx.signing_bytes), bad)), 'a changed signature is refused');
    const g = vectors.genesis;
    const trust = await v.trustFromGenesis(g.document, g.hash);
    check(trust.genesisHash === g.hash, 'genesis hash');
    const h = vectors.header;
    const header = v.decodeHeader(hex(h.bytes));
    check(header.height === h.fields.height && toHex(header.state_root) === h.fields.state_root, 'header fields');
    check(toHex(await v.sha256(hex(h.bytes))) === h.hash, 'header hash');
    const vote = vectors.vote;
    check(toHex(v.signingBytes('vote', [g.document.chain_id, 'commit', 1, 0, hex(h.hash)])) === vote.signing_bytes, 'vote signing bytes');
    check(await v.verifySignature(hex(vote.validator), hex(vote.signing_bytes), hex(vote.signature)), 'vote signature');
    const c = vectors.certificate;
    check(toHex(trust.validatorsHash) === c.validators_hash, 'validators hash');
    const verified = await v.verifyHeader(trust, hex(h.bytes), hex(c.bytes));
    check(verified.signers >= v.quorumSize(c.validators.length), 'certificate quorum');
    const forged = hex(c.bytes); forged[forged.length - 1] ^= 1;
    try { await v.verifyHeader(trust, hex(h.bytes), forged); errors.push('a forged certificate passed'); } catch (e) {}
    const m = vectors.merkle;
    const leaf = new TextEncoder().encode(m.leaves_utf8[m.proof_index]);
    check(toHex(await v.merkleRootFromProof(leaf, m.proof_index, m.leaves_utf8.length, m.proof_path.map(hex))) === m.root, 'merkle proof');
    const r = vectors.result;
    check(toHex(await v.merkleRootFromProof(hex(r.leaf), 0, 1, [])) === r.results_root, 'results root');
    const st = vectors.state_tree;
    for (const item of st.proofs) {
      const proof = v.decodeStateProof(hex(item.proof));
      const value = item.value === null ? null : hex(item.value);
      await v.verifyStateProof(hex(st.state_root), hex(item.key), value, proof);
      try { await v.verifyStateProof(hex(st.state_root), hex(item.key), value === null ? hex('05') : null, proof);
            errors.push('a state proof proved the wrong value'); } catch (e) {}
    }
    for (const bad of ['c1', 'c0', 'cb3ff0000000000000', 'd40000', '82a162c3a161c3']) {
      try { v.unpack(hex(bad)); errors.push('non-canonical ' + bad + ' decoded'); } catch (e) {}
    }
  } catch (error) { errors.push(String(error && error.stack || error)); }
  done({errors, path: v.cryptoPath});
})();
"""


class LyingProxy:
    """Between the browser and a node, on 127.0.0.1: passes everything
    through, and with ``lie`` set changes each /rpc answer the way it names."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lie: Callable[[dict], None] | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> "LyingProxy":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _start(self) -> None:
        self.session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self.session.close()
        await self.runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.session.request(request.method, self.upstream + request.path_qs, data=body,
                                        headers={"Content-Type": request.headers.get("Content-Type", "text/plain")}) as answer:
            payload = await answer.read()
            headers = {name: value for name, value in answer.headers.items()
                       if name.lower() in ("content-type", "content-security-policy") or name.lower().startswith("access-control-")}
        if request.path == "/rpc" and self.lie is not None:
            message = json.loads(payload)
            if "result" in message:
                self.lie(message["result"])
                payload = json.dumps(message).encode()
        return web.Response(body=payload, status=answer.status, headers=headers)


def flip_hex(text: str, at: int) -> str:
    return text[:at] + format(int(text[at], 16) ^ 1, "x") + text[at + 1:]


def test_the_badge_says_what_failed_when_a_proxy_lies_and_the_trace_downloads_as_epcis(tmp_path, browser, downloads):
    with running_testnet(tmp_path / "net") as cluster:
        objects = story(cluster)
        with LyingProxy(rpc_url(cluster, "node0")[: -len("/rpc")]) as proxy:
            base = f"http://127.0.0.1:{proxy.port}"
            load(browser, f"{base}/coupon-batch/{objects['coupon-batch']}", "Coupon batch")
            assert badge(browser).startswith("verified at height")           # honest through the proxy

            def sold(result: dict) -> None:
                if "sold_online" in result:
                    result["sold_online"] += 1
                    result["sold"] += 1

            def trace_event(result: dict) -> None:
                if "events" in result:
                    result["events"][0]["location"] = "somewhere else"

            def proof_byte(result: dict) -> None:
                for item in result.get("proofs", []):
                    item["proof"] = flip_hex(item["proof"], len(item["proof"]) - 1)

            def signature(result: dict) -> None:
                if "certificate_bytes" in result:
                    result["certificate_bytes"] = flip_hex(result["certificate_bytes"], len(result["certificate_bytes"]) - 1)

            for lie, kind, said in ((sold, "coupon-batch", "sold_online is not the one the validators signed"),
                                    (trace_event, "trace", "trace event 0 is not the one the validators signed"),
                                    (proof_byte, "coupon-batch", "does not hold"),
                                    (signature, "order", "does not check"),
                                    (signature, "block", "does not check")):
                proxy.lie = lie
                heading = {"coupon-batch": "Coupon batch", "trace": "Trace", "order": "Order", "block": "Block"}[kind]
                load(browser, f"{base}/{kind}/{objects[kind]}", heading)
                text = badge(browser)
                assert text.startswith("not verified") and said in text, (lie.__name__, kind, text)
            proxy.lie = None
            load(browser, f"{base}/trace/{objects['trace']}", "Trace")
            assert badge(browser).startswith("verified at height")
            browser.find_element(By.ID, "epcis").click()
            saved = downloads / f"{objects['trace'].replace('/', '_')}.epcis.jsonld"
            WebDriverWait(browser, 20).until(lambda d: saved.exists() and saved.stat().st_size > 0)
            exported = json.loads(saved.read_text())
            assert exported["type"] == "EPCISDocument" and exported["schemaVersion"] == "2.0"
            events = exported["epcisBody"]["eventList"]
            assert [event["bizStep"] for event in events] == ["receiving", "receiving"]     # the event and its correction
            # EPCIS's pattern: the error declaration repeats the corrected event under its eventID
            assert "errorDeclaration" not in events[0] and events[1]["errorDeclaration"]["reason"] == "incorrect_data"
            assert events[1]["eventID"] == events[0]["eventID"] and events[0]["eventTime"] <= events[1]["recordTime"]

            # the page of node0 reading from another node (here the proxy): CORS lets it, and the badge checks that node
            node0 = rpc_url(cluster, "node0")[: -len("/rpc")]
            load(browser, f"{node0}/coupon-batch/{objects['coupon-batch']}", "Coupon batch")
            source = browser.find_element(By.ID, "source")
            source.send_keys(base)
            source.submit()
            WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda d: d.find_element(By.ID, "source-now").text == f"reading from {base}")
            assert badge(browser).startswith("verified at height")
            proxy.lie = sold
            browser.refresh()
            assert badge(browser).startswith("not verified")
            proxy.lie = None
            browser.execute_script("localStorage.removeItem('shopchain.source')")
            genesis = browser.find_element(By.ID, "genesis-hash").text
            load(browser, f"{base}/order/{objects['order']}#genesis={'0' * 64}", "Order")    # a link pins another genesis
            text = badge(browser)
            assert text.startswith("not verified") and "another chain under the same id" in text, text
            browser.find_element(By.ID, "forget-pin").click()
            WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda d: d.find_element(By.ID, "badge").text.startswith("verified at height"))
            assert browser.find_element(By.ID, "genesis-hash").text == genesis
            pin = browser.find_element(By.ID, "pin")                             # typed in from elsewhere: a wrong one …
            pin.send_keys("ab" * 32)
            pin.submit()
            WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda d: d.find_element(By.ID, "badge").text.startswith("not verified"))
            pin = browser.find_element(By.ID, "pin")                             # … then the right one
            pin.send_keys(genesis)
            pin.submit()
            WebDriverWait(browser, 20, ignored_exceptions=[StaleElementReferenceException]).until(
                lambda d: d.find_element(By.ID, "badge").text.startswith("verified at height"))


def test_the_vendored_files_are_the_pinned_ones():
    """node/static/vendor/README.md lists each vendored file's SHA-256."""
    vendor = Path(__file__).resolve().parents[2] / "node" / "static" / "vendor"
    listed = re.findall(r"^([0-9a-f]{64})  (\S+)$", (vendor / "README.md").read_text(), re.M)
    assert len(listed) == 5
    for digest, name in listed:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name


def test_a_coupon_bought_while_the_batch_page_is_open_shows_up_without_a_reload(tmp_path, browser):
    with running_testnet(tmp_path / "net") as cluster:
        objects = story(cluster)
        base = rpc_url(cluster, "node0")[: -len("/rpc")]
        load(browser, f"{base}/coupon-batch/{objects['coupon-batch']}", "Coupon batch")
        first = badge(browser)
        assert browser.find_element(By.ID, "batch-online").text == "1"
        browser.execute_script("window.notReloaded = true")

        async def buy() -> None:
            admin, shopper = admin_key(cluster), KeyPair.generate()
            async with ShopchainClient(rpc_url(cluster, "node0")) as client:
                await client.send(admin, "account.register", {"name": "Bo", "account": shopper.address})
                await client.send(admin, "funds.mint", {"to": shopper.address, "amount": 1_000})
                assert (await client.send(shopper, "coupon.buy", {"batch": objects["coupon-batch"]})).ok
        run(buy())
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "batch-online").text == "2")
        assert browser.execute_script("return window.notReloaded === true")
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "badge").text.startswith("verified at height")
                                         and d.find_element(By.ID, "badge").text != first)
