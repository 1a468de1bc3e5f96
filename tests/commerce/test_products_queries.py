from commerce.queries import (account_get, asset_get, contract_get, coupon_batch_get, coupon_get, order_get, orders_list,
                              product_get, products_list, trace_get)
from tests.commerce.harness import Chain, make_key


def test_product_list_and_update_by_owner_only():
    chain = Chain()
    merchant, other = chain.register("shop", "merchant"), chain.register("other", "merchant")
    chain.list_product(merchant, sku="tea", price=100, stock=3)
    chain.fails(merchant, "product.list", {"sku": "tea", "title": "t", "price": 1, "stock": 1, "category": "c"}, "product.exists")
    chain.fails(other, "product.update", {"sku": "tea", "price": 1}, "product.unknown")
    chain.fails(merchant, "product.update", {"sku": "tea"}, "body.missing_field")
    chain.fails(merchant, "product.update", {"sku": "tea", "attrs": {"a": 1}}, "body.invalid")
    chain.ok(merchant, "product.update", {"sku": "tea", "price": 120, "attrs": {"origin": "Yunnan"}})
    view = product_get(chain.store, f"{merchant.address}/tea")
    assert (view["price"], view["stock"], view["attrs"], view["merchant"]) == (120, 3, {"origin": "Yunnan"}, merchant.address)
    chain.fails(chain.register("bob"), "product.list", {"sku": "x", "title": "t", "price": 1, "stock": 1, "category": "c"}, "auth.forbidden")


def test_lists_filter_and_page():
    chain = Chain()
    merchant, other = chain.register("shop", "merchant"), chain.register("other", "merchant")
    for index in range(5):
        chain.list_product(merchant, sku=f"sku{index}", price=10)
    chain.list_product(other, sku="x", price=10)
    assert products_list(chain.store)["total"] == 6
    page = products_list(chain.store, merchant=merchant.address, offset=2, limit=2)
    assert (page["total"], [item["sku"] for item in page["items"]]) == (5, ["sku2", "sku3"])
    buyer = chain.register("bob")
    chain.fund(buyer, 1_000)
    orders = [chain.order(buyer, merchant, sku=f"sku{index}") for index in range(3)]
    chain.ok(buyer, "order.cancel", {"order": orders[0]})
    assert orders_list(chain.store, buyer=buyer.address)["total"] == 3
    assert [item["order"] for item in orders_list(chain.store, state_name="created")["items"]] == sorted(orders[1:])
    assert orders_list(chain.store, merchant=other.address)["total"] == 0


def test_getters_of_unknown_names_return_none_and_views_are_json_ready():
    chain = Chain()
    unknown = "ab" * 32
    assert account_get(chain.store, make_key("ghost").address) is None
    assert all(getter(chain.store, unknown) is None for getter in (order_get, coupon_batch_get, contract_get, trace_get))
    assert coupon_get(chain.store, f"{unknown}/1") is None and coupon_get(chain.store, "bad") is None
    assert coupon_get(chain.store, f"{unknown}/\u00b2") is None and coupon_get(chain.store, f"{unknown}/\u0663") is None
    assert product_get(chain.store, "nobody/tea") is None
    assert asset_get(chain.store, "SHC")["supply"] == 10**12
    merchant, buyer = chain.register("shop", "merchant"), chain.register("bob")
    chain.fund(buyer, 100)
    chain.list_product(merchant, price=10)
    view = order_get(chain.store, chain.order(buyer, merchant))
    assert isinstance(view["shipping_hash"], str) and view["state"] == "created" and "timer" not in view
    assert account_get(chain.store, chain.admin.address)["roles"] == ["admin", "consumer"]
