"""Which subscription topics an event is published on."""
from node.events import topics_of

ALICE, SHOP = "a" * 64, "b" * 64
ORDER = "c" * 64


def test_order_event_reaches_sender_parties_and_order():
    event = {"kind": "order.created", "order": ORDER, "buyer": ALICE, "merchant": SHOP, "amount": 5}
    assert list(topics_of(event, ALICE)) == [f"events:account:{ALICE}", f"events:account:{SHOP}", f"events:order:{ORDER}"]


def test_coupon_and_trace_topics_name_the_batch_and_the_subject():
    sold = {"kind": "coupon.sold", "batch": ORDER, "coupon": f"{ORDER}/3", "to": ALICE, "channel": "online"}
    assert f"events:coupon:{ORDER}" in list(topics_of(sold, None))
    traced = {"kind": "trace.recorded", "subject": f"{SHOP}/tea/lot1", "stage": "transit", "index": 0}
    assert list(topics_of(traced, SHOP)) == [f"events:account:{SHOP}", f"events:trace:{SHOP}/tea/lot1"]


def test_each_topic_once():
    event = {"kind": "funds.transferred", "from": ALICE, "to": ALICE, "amount": 1}
    assert list(topics_of(event, ALICE)) == [f"events:account:{ALICE}"]
