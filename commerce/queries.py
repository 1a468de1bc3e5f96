"""Pure getters over state, JSON-ready (bytes as lowercase hex), with the
field names of docs/commerce.md section 12. Each returns None for an unknown name."""
from __future__ import annotations

from typing import Any, Callable, Iterator

from chain.encoding import unpack
from chain.kv import KeyValueReader
from commerce.accounts import get_account
from commerce.body import is_decimal, is_hex_id
from commerce.contracts import get_contract
from commerce.coupons import get_batch, get_coupon, is_expired
from commerce.executor import get_nonce
from commerce.funds import get_asset, get_balance, get_holdings
from commerce.keys import COUPON, ORDER, PRODUCT, meta_key, trace_event_key
from commerce.orders import get_order
from commerce.products import get_product
from commerce.records import get_record
from commerce.trace import get_trace

PAGE_LIMIT_MAX = 100


def to_json(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    return value


def account_get(state: KeyValueReader, address: str) -> dict[str, Any] | None:
    if not is_hex_id(address):
        return None
    account = get_account(state, address)
    nonce = get_nonce(state, bytes.fromhex(address))
    balances = _balances(state, address)
    if account is None and nonce == 0 and not balances:
        return None
    account = account or {"roles": [], "suspended": False}
    return {"address": address, "roles": account["roles"], "nonce": nonce, "next_nonce": nonce + 1,
            "balances": balances, "referrer": account.get("referrer"), "name": account.get("name"),
            "suspended": account["suspended"], "pending_roles": sorted(account.get("pending", {}))}


def _balances(state: KeyValueReader, address: str) -> dict[str, int]:
    """Every balance, by the holdings index: a proven index proves the map complete."""
    return {asset: get_balance(state, address, asset) for asset in get_holdings(state, address)}


def asset_get(state: KeyValueReader, symbol: str) -> dict[str, Any] | None:
    asset = get_asset(state, symbol)
    return None if asset is None else {"symbol": symbol, **asset}


def product_get(state: KeyValueReader, product: str) -> dict[str, Any] | None:
    merchant, _, sku = product.partition("/")
    record = get_product(state, merchant, sku) if is_hex_id(merchant) and 0 < len(sku.encode()) < 256 else None
    return None if record is None else {"product": product, **record}


def order_get(state: KeyValueReader, order_id: str) -> dict[str, Any] | None:
    if not is_hex_id(order_id):
        return None
    order = get_order(state, order_id)
    if order is None:
        return None
    order = {key: value for key, value in order.items() if key != "timer"}
    return to_json({"order": order_id, **order})


def coupon_batch_get(state: KeyValueReader, batch_id: str) -> dict[str, Any] | None:
    if not is_hex_id(batch_id):
        return None
    batch = get_batch(state, batch_id)
    if batch is None:
        return None
    sold = batch["sold_online"] + batch["sold_offline"]
    # Expired once the expiry step marked it, or once the last block's time is
    # past valid_until while the step still waits behind the per-block cap.
    expired = is_expired(batch, get_record(state, meta_key("time_ms")) or 0)
    return {"batch": batch_id, **batch, "sold": sold, "expired": expired,
            "expired_unredeemed": sold - batch["redeemed"] if expired else 0, "expired_ms": batch.get("expired_ms")}


def coupon_get(state: KeyValueReader, coupon: str) -> dict[str, Any] | None:
    batch_id, _, number = coupon.partition("/")
    if not is_hex_id(batch_id) or not is_decimal(number) or int(number) >= 2**64:
        return None
    batch, record = get_batch(state, batch_id), get_coupon(state, batch_id, int(number))
    if batch is None or record is None:
        return None
    return to_json({"coupon": coupon, "batch": batch_id, "n": int(number), "serial": f"{batch['serial_prefix']}-{int(number)}",
                    "holder": record["holder"], "redeemed": record["redeemed"], "history": record["history"]})


def trace_get(state: KeyValueReader, subject: str) -> dict[str, Any] | None:
    if not 0 < len(subject.encode()) < 256:
        return None
    trace = get_trace(state, subject)
    if trace is None:
        return None
    # Events are indexed 0..count-1 under the trace's count: read by index, so
    # a proven count proves the list complete (commerce/proven.py).
    events = [get_record(state, trace_event_key(subject, index)) for index in range(trace["count"])]
    return to_json({"subject": subject, "stage": trace["stage"], "events": events})


def contract_get(state: KeyValueReader, contract_id: str) -> dict[str, Any] | None:
    if not is_hex_id(contract_id):
        return None
    contract = get_contract(state, contract_id)
    if contract is None:
        return None
    contract = {key: value for key, value in contract.items() if key != "timer"}
    return to_json({"contract": contract_id, **contract})


def _page(items: Iterator[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
    limit = max(0, min(limit, PAGE_LIMIT_MAX))
    page, total = [], 0
    for item in items:
        if offset <= total < offset + limit:
            page.append(item)
        total += 1
    return {"items": page, "total": total, "offset": offset, "limit": limit}


def _matching(records: Iterator[dict[str, Any]], filters: dict[str, Any]) -> Iterator[dict[str, Any]]:
    wanted = {name: value for name, value in filters.items() if value is not None}
    return (record for record in records if all(record.get(name) == value for name, value in wanted.items()))


def _scan(state: KeyValueReader, prefix: bytes, build: Callable[[bytes, dict], dict]) -> Iterator[dict[str, Any]]:
    return (build(key, unpack(value)) for key, value in state.iterate_prefix(prefix))


def orders_list(state: KeyValueReader, buyer: str | None = None, merchant: str | None = None,
                state_name: str | None = None, offset: int = 0, limit: int = 50) -> dict[str, Any]:
    orders = _scan(state, ORDER, lambda key, order: order_get(state, key[1:].hex()))
    return _page(_matching(orders, {"buyer": buyer, "merchant": merchant, "state": state_name}), offset, limit)


def products_list(state: KeyValueReader, merchant: str | None = None, category: str | None = None,
                  offset: int = 0, limit: int = 50) -> dict[str, Any]:
    products = _scan(state, PRODUCT, lambda key, product: {"product": f"{product['merchant']}/{product['sku']}", **product})
    return _page(_matching(products, {"merchant": merchant, "category": category}), offset, limit)


def coupons_list(state: KeyValueReader, batch: str | None = None, holder: str | None = None,
                 offset: int = 0, limit: int = 50) -> dict[str, Any]:
    prefix = COUPON + bytes.fromhex(batch) if batch else COUPON
    coupons = _scan(state, prefix, lambda key, coupon: coupon_get(state, f"{key[1:33].hex()}/{int.from_bytes(key[33:], 'big')}"))
    return _page(_matching(coupons, {"holder": holder}), offset, limit)
