"""The explorer in a real headless Chromium against a real testnet: every
object page loads by its deep link on a phone-sized and a desktop-sized
window without horizontal overflow or console errors; the search box
lands a height, an address and a coupon serial on their pages; text users
wrote on chain is shown as text, never run."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from chain.keys import KeyPair
from node.client import ShopchainClient
from tests.cluster.clusterutil import admin_key, rpc_url, run, running_testnet, wait_height

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE_NAME = "<img src=x onerror=\"document.title='owned'\">"
SIZES = [(375, 812), (1280, 900)]
SCREENSHOTS = Path(os.environ.get("TEST_OUTPUT", "test-output")) / "explorer"


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Chromium and its driver are missing: `make test` installs them (apt-get chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
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
            lot = f"{merchant.address}/tea/L1"
            traced = await client.send(merchant, "trace.record", {"subject": lot, "stage": "procurement", "location": HOSTILE_NAME,
                                                                  "handler": "farm", "data_hash": b"\x03" * 32})
            assert all(result.ok for result in (batch, bought, order, traced))
        return {"block": str(traced.height), "tx": bought.id, "account": merchant.address,
                "product": f"{merchant.address}/tea", "order": order.id, "coupon-batch": batch.id,
                "coupon": f"{batch.id}/1", "trace": lot, "merchant": merchant.address}
    return run(scenario())


def load(driver, url: str, heading: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith(heading))


def test_every_object_page_loads_by_its_deep_link_fits_a_phone_and_runs_no_user_text(tmp_path, browser):
    with running_testnet(tmp_path / "net") as cluster:
        objects = story(cluster)
        base = rpc_url(cluster, "node0")[: -len("/rpc")]
        headings = {"block": "Block", "tx": "Transaction", "account": "Account", "product": "Product", "order": "Order",
                    "coupon-batch": "Coupon batch", "coupon": "Coupon", "trace": "Trace"}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in SIZES:
            browser.set_window_size(width, height)
            for kind, heading in headings.items():
                load(browser, f"{base}/{kind}/{objects[kind]}", heading)
                assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (kind, width)
                browser.save_screenshot(str(SCREENSHOTS / f"{kind}-{width}.png"))
            load(browser, f"{base}/", "Chain")
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert severe == []
        load(browser, f"{base}/product/{objects['product']}", "Product")
        assert HOSTILE_NAME in browser.find_element(By.ID, "page").text           # shown as text …
        assert browser.find_elements(By.CSS_SELECTOR, "#page img") == []          # … never as markup
        assert browser.title != "owned"
        for needle, heading, path in ((objects["block"], "Block", f"/block/{objects['block']}"),
                                      (objects["merchant"], "Account", f"/account/{objects['merchant']}"),
                                      (objects["order"], "Order", f"/order/{objects['order']}"),
                                      ("TEA-1", "Coupon", f"/coupon/{objects['coupon']}")):
            load(browser, f"{base}/", "Chain")
            box = browser.find_element(By.ID, "needle")
            box.send_keys(needle)
            box.submit()
            WebDriverWait(browser, 20).until(lambda d: d.current_url.endswith(path))
            load(browser, browser.current_url, heading)
