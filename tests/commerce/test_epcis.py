"""A trace as an EPCIS 2.0 document (commerce/epcis.py): every field the
export promises, one event per recorded stage plus one error declaration
per correction in record-time order, each declaration under the eventID of
an event present in the document, and identifiers that stay URNs whatever
text a user wrote."""
import json

from commerce.epcis import BIZ_STEPS, object_uri, trace_document
from commerce.queries import order_get, trace_get
from tests.commerce.harness import Chain, digest

STAGES = ["procurement", "production", "warehousing", "transit", "delivery"]


def _record(chain, key, subject, stage, location):
    return chain.ok(key, "trace.record", {"subject": subject, "stage": stage, "location": location,
                                          "handler": f"{stage} desk", "data_hash": digest(stage)})


def _lot_with_a_correction():
    chain = Chain()
    merchant = chain.register("shop", "merchant")
    chain.list_product(merchant)
    lot = f"{merchant.address}/tea/L1"
    recorded = [_record(chain, merchant, lot, stage, f"site: {stage}/{index} ü") for index, stage in enumerate(STAGES)]
    correction = chain.ok(merchant, "trace.correct", {"subject": lot, "event": 1, "reason": "wrong line",
                                                     "data_hash": digest("fix")})
    return chain, lot, recorded, correction


def test_a_lot_exports_every_field_and_declares_its_correction_under_the_corrected_event():
    chain, lot, recorded, correction = _lot_with_a_correction()
    document = json.loads(json.dumps(trace_document(trace_get(chain.store, lot), "test-chain", False, 1_767_225_600_123)))
    assert document["@context"][0] == "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
    assert (document["type"], document["schemaVersion"], document["creationDate"]) == (
        "EPCISDocument", "2.0", "2026-01-01T00:00:00.123Z")
    events = document["epcisBody"]["eventList"]
    assert len(events) == len(STAGES) + 1
    originals = [event for event in events if "errorDeclaration" not in event]
    assert [event["bizStep"] for event in originals] == [BIZ_STEPS[stage][0] for stage in STAGES]
    assert [event["eventID"] for event in originals] == [object_uri("test-chain", "tx", tx.id) for tx in recorded]
    assert [event["recordTime"] for event in events] == sorted(event["recordTime"] for event in events)
    for event in events:
        assert event["type"] == "ObjectEvent" and event["eventTimeZoneOffset"] == "+00:00"
        assert event["action"] in ("ADD", "OBSERVE") and event["eventTime"].endswith("Z")
        assert event["quantityList"] == [{"epcClass": object_uri("test-chain", "lot", *lot.split("/"))}]
        assert event["readPoint"] == event["bizLocation"] and event["readPoint"]["id"].startswith("urn:shopchain:test-chain:location:")
    declaration = events[-1]
    assert declaration["eventID"] == originals[1]["eventID"]            # names the event it corrects
    assert declaration["eventTime"] == originals[1]["eventTime"]
    assert declaration["errorDeclaration"]["reason"] == "incorrect_data"
    assert declaration["errorDeclaration"]["shopchain:reason"] == "wrong line"
    assert declaration["errorDeclaration"]["shopchain:tx"] == correction.id
    assert declaration["errorDeclaration"]["declarationTime"] > originals[1]["recordTime"]


def test_an_order_shipment_names_the_order_as_the_object_and_the_business_transaction():
    chain = Chain()
    merchant, buyer, carrier = chain.register("shop", "merchant"), chain.register("ann"), chain.register("van", "carrier")
    chain.list_product(merchant)
    chain.fund(buyer, 50_000)
    order = chain.order(buyer, merchant)
    chain.ok(merchant, "order.ship", {"order": order, "carrier": carrier.address, "tracking": "TRK-1"})
    _record(chain, carrier, order, "transit", "hub")
    _record(chain, carrier, order, "delivery", "door")
    assert order_get(chain.store, order)["state"] == "delivered"
    document = trace_document(trace_get(chain.store, order), "test-chain", True, 0)
    uri = object_uri("test-chain", "order", order)
    for event in document["epcisBody"]["eventList"]:
        assert event["epcList"] == [uri] and "quantityList" not in event
        assert event["bizTransactionList"] == [{"type": "po", "bizTransaction": uri}]


def test_identifiers_stay_urns_whatever_the_text():
    uri = object_uri("chain:x", "location", "Dock 4: <b>north</b>/west")
    assert uri.startswith("urn:shopchain:chain%3Ax:location:") and uri.count(":") == 4
    assert " " not in uri and "<" not in uri and "/" not in uri
