from commerce.queries import trace_get
from tests.commerce.harness import Chain, digest


def _event(subject, stage, data="d"):
    return {"subject": subject, "stage": stage, "location": "Shenzhen", "handler": "line-3", "data_hash": digest(data)}


def test_lot_trace_moves_forward_and_corrections_are_appended():
    chain = Chain()
    merchant = chain.register("shop", "merchant")
    chain.list_product(merchant)
    lot = f"{merchant.address}/tea/L1"
    first = chain.ok(merchant, "trace.record", _event(lot, "procurement"))
    chain.ok(merchant, "trace.record", _event(lot, "production"))
    chain.ok(merchant, "trace.record", _event(lot, "production"))
    chain.fails(merchant, "trace.record", _event(lot, "procurement"), "trace.stage_backwards")
    chain.fails(merchant, "trace.record", _event(lot, "shipping"), "trace.bad_stage")
    correction = chain.ok(merchant, "trace.correct", {"subject": lot, "event": 0, "reason": "wrong farm", "data_hash": digest("fix")})
    chain.fails(merchant, "trace.correct", {"subject": lot, "event": 0, "reason": "again", "data_hash": digest("x")}, "trace.corrected_already")
    chain.fails(merchant, "trace.correct", {"subject": lot, "event": 3, "reason": "x", "data_hash": digest("x")}, "trace.unknown_event")
    chain.fails(merchant, "trace.correct", {"subject": lot, "event": 9, "reason": "x", "data_hash": digest("x")}, "trace.unknown_event")
    view = trace_get(chain.store, lot)
    assert view["stage"] == "production" and len(view["events"]) == 4
    assert view["events"][0]["tx"] == first.id and view["events"][0]["corrected_by"] == 3
    assert view["events"][3]["correction_of"] == 0 and view["events"][3]["tx"] == correction.id


def test_trace_writers():
    chain = Chain()
    merchant, stranger = chain.register("shop", "merchant"), chain.register("eve", "merchant")
    chain.list_product(merchant)
    lot = f"{merchant.address}/tea/L1"
    chain.fails(stranger, "trace.record", _event(lot, "procurement"), "trace.bad_subject")
    chain.fails(merchant, "trace.record", _event(f"{merchant.address}/nope/L1", "procurement"), "trace.bad_subject")
    chain.ok(merchant, "trace.record", _event(lot, "procurement"))
    chain.fails(stranger, "trace.correct", {"subject": lot, "event": 0, "reason": "x", "data_hash": digest("x")}, "auth.forbidden")
