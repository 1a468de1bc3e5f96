"""A trace as a GS1 EPCIS 2.0 document (JSON-LD), for the supply-chain
systems that speak EPCIS. Pure: it reads the answer of
``queries.trace_get``; docs/commerce.md ("EPCIS export") gives the
mapping and the identifier scheme.

Every recorded event becomes an ``ObjectEvent``, in the order the chain
recorded them (``recordTime``, the block time, never decreases). A
correction follows
EPCIS's own pattern: it is an *error declaration*, a copy of the event it
corrects under that event's ``eventID``, with an ``errorDeclaration``
(declaration time, reason ``incorrect_data``, the chain's own reason text
and data hash as extensions). A chain correction carries no replacement
observation, so ``correctiveEventIDs`` is empty.
"""
from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import quote

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# Our extension terms: "shopchain:handler" and so on, in a namespace of URNs.
EXTENSION_PREFIX = "shopchain"
EXTENSION_NAMESPACE = "urn:shopchain:epcis:"

# The trace's stages as CBV 2.0 business steps, and the action of each:
# production makes the lot exist (commissioning ADDs it); the rest observe it.
BIZ_STEPS = {
    "procurement": ("receiving", "OBSERVE"),
    "production": ("commissioning", "ADD"),
    "warehousing": ("storing", "OBSERVE"),
    "transit": ("transporting", "OBSERVE"),
    "delivery": ("arriving", "OBSERVE"),
}


def _part(text: str) -> str:
    """One part of a URN, percent-encoded so that nothing in it is ``:`` or ``/``."""
    return quote(text, safe="")


def object_uri(chain_id: str, kind: str, *parts: str) -> str:
    """``urn:shopchain:CHAIN:KIND:PART[:PART…]``: an order, a lot, a location or a transaction."""
    return ":".join(["urn:shopchain", _part(chain_id), kind, *(_part(part) for part in parts)])


def _time(time_ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(time_ms / 1000, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"


def trace_document(trace: dict[str, Any], chain_id: str, is_order: bool, created_ms: int) -> dict[str, Any]:
    """The EPCIS document of ``trace`` (as ``queries.trace_get`` answers it)
    on chain ``chain_id``; ``is_order``: the subject is an order's shipment
    (else a product lot); ``created_ms``: the block time it was read at."""
    subject = trace["subject"]
    if is_order:
        what: dict[str, Any] = {"epcList": [object_uri(chain_id, "order", subject)]}
        what["bizTransactionList"] = [{"type": "po", "bizTransaction": object_uri(chain_id, "order", subject)}]
    else:
        what = {"quantityList": [{"epcClass": object_uri(chain_id, "lot", *subject.split("/"))}]}
    events = trace["events"]
    ids = [object_uri(chain_id, "tx", event["tx"]) for event in events]
    out = []
    for index, event in enumerate(events):
        if "correction_of" in event:
            original = event["correction_of"]
            out.append(_declaration(event, events[original], ids[original], chain_id, what))
        else:
            out.append(_object_event(event, ids[index], chain_id, what))
    return {
        "@context": [EPCIS_CONTEXT, {EXTENSION_PREFIX: EXTENSION_NAMESPACE}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(created_ms),
        "epcisBody": {"eventList": out},
    }


def _object_event(event: dict[str, Any], event_id: str, chain_id: str, what: dict[str, Any]) -> dict[str, Any]:
    biz_step, action = BIZ_STEPS[event["stage"]]
    place = {"id": object_uri(chain_id, "location", event["location"])}
    return {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": _time(event["time_ms"]),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": _time(event["time_ms"]),
        "action": action,
        "bizStep": biz_step,
        **what,
        "readPoint": place,
        "bizLocation": place,
        f"{EXTENSION_PREFIX}:stage": event["stage"],
        f"{EXTENSION_PREFIX}:handler": event["handler"],
        f"{EXTENSION_PREFIX}:author": event["author"],
        f"{EXTENSION_PREFIX}:dataHash": event["data_hash"],
        f"{EXTENSION_PREFIX}:tx": event["tx"],
    }


def _declaration(correction: dict[str, Any], original: dict[str, Any], original_id: str, chain_id: str,
                 what: dict[str, Any]) -> dict[str, Any]:
    """The error declaration of ``original``: the same event under its id, declared erroneous by ``correction``."""
    declared = _object_event(original, original_id, chain_id, what)
    declared["recordTime"] = _time(correction["time_ms"])
    declared["errorDeclaration"] = {
        "declarationTime": _time(correction["time_ms"]),
        "reason": "incorrect_data",
        "correctiveEventIDs": [],
        f"{EXTENSION_PREFIX}:reason": correction["reason"],
        f"{EXTENSION_PREFIX}:dataHash": correction["data_hash"],
        f"{EXTENSION_PREFIX}:author": correction["author"],
        f"{EXTENSION_PREFIX}:tx": correction["tx"],
    }
    return declared
