"""The genesis document (docs/protocol.md section 9): what a chain starts from.

A JSON object with ``chain_id``, ``genesis_time_ms``, ``validators`` (hex
public keys, in set order), ``admins``, ``treasury``, ``allocations`` (a list
of ``{"address", "amount"}`` in the native asset) and ``params`` (any subset
of ``DEFAULT_PARAMS``; the rest take their defaults). Its hash is SHA-256 of
the canonical packing of the parsed document, so whitespace never matters;
it stands as ``prev_hash`` of block 1.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from chain.constants import MAX_UINT64
from chain.encoding import pack
from chain.errors import GenesisError
from chain.hashing import sha256
from chain.keys import is_address
from chain.state_tree import STATE_SCHEME
from chain.validators import ValidatorSet

CHAIN_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
BPS_DENOMINATOR = 10_000

# Defaults of the genesis parameters, each with its reason. A network sets
# its own in the document; docs/protocol.md lists them.
DEFAULT_PARAMS: dict[str, int | bool] = {
    # Settlement fee, and the shares of it for the referring agent and for the
    # validators (the rest goes to the treasury): 2 %, a fifth, three tenths.
    "fee_bps": 200,
    "agent_bps": 2_000,
    "validator_bps": 3_000,
    # Order clocks: a week to confirm after delivery, two weeks to ship or to
    # resolve a dispute, so no escrow waits forever.
    "auto_confirm_ms": 7 * 24 * 3600 * 1000,
    "ship_timeout_ms": 14 * 24 * 3600 * 1000,
    "dispute_timeout_ms": 14 * 24 * 3600 * 1000,
    "open_registration": True,
    # Caps: 4 MiB and 5,000 transactions per block, 64 KiB per transaction,
    # 100 items per list in a body, 1,000 time-driven steps per block.
    "block_bytes_max": 4 * 1024 * 1024,
    "block_txs_max": 5_000,
    "tx_bytes_max": 64 * 1024,
    "list_length_max": 100,
    "timed_steps_per_block_max": 1_000,
    # Consensus timing: an empty block each second so time-based rules move;
    # a full block executes within a second; a view times out after 5 s;
    # a proposal may run 2 s ahead of a voter's clock.
    "empty_block_interval_ms": 1_000,
    "block_execution_budget_ms": 1_000,
    "view_timeout_ms": 5_000,
    "max_clock_drift_ms": 2_000,
}

_REQUIRED_FIELDS = ("chain_id", "genesis_time_ms", "validators", "admins", "treasury", "allocations")
_OPTIONAL_FIELDS = ("params", "state_scheme")


@dataclass(frozen=True, slots=True)
class Genesis:
    chain_id: str
    genesis_time_ms: int
    validators: ValidatorSet
    admins: tuple[str, ...]
    treasury: str
    allocations: tuple[tuple[str, int], ...]
    params: dict[str, int | bool]
    hash: bytes
    document: dict[str, Any]


def parse_genesis(text: str) -> Genesis:
    """Parse and validate a genesis JSON document; raises GenesisError."""
    try:
        document = json.loads(text, parse_float=_refuse_float, parse_constant=_refuse_float)
    except json.JSONDecodeError as error:
        raise GenesisError("genesis.malformed", f"genesis is not JSON ({error.msg} at line {error.lineno}); fix the file") from None
    return genesis_from_document(document)


def _refuse_float(text: str) -> Any:
    raise GenesisError("genesis.invalid", f"number {text} is not an integer; amounts and times are integers")


def genesis_from_document(document: Any) -> Genesis:
    if not isinstance(document, dict):
        raise GenesisError("genesis.malformed", "genesis is a JSON object")
    unknown = sorted(set(document) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        raise GenesisError("genesis.unknown_field", f"unknown field(s) {', '.join(unknown)}; remove them")
    missing = [name for name in _REQUIRED_FIELDS if name not in document]
    if missing:
        raise GenesisError("genesis.invalid", f"missing field(s) {', '.join(missing)}")
    chain_id = document["chain_id"]
    if not isinstance(chain_id, str) or not CHAIN_ID_PATTERN.fullmatch(chain_id):
        raise GenesisError("genesis.invalid", "chain_id must match [A-Za-z0-9._-]{1,64}")
    time_ms = _integer(document["genesis_time_ms"], "genesis_time_ms")
    validators = _address_list(document["validators"], "validators", allow_empty=False)
    admins = _address_list(document["admins"], "admins", allow_empty=True)
    treasury = document["treasury"]
    if not is_address(treasury):
        raise GenesisError("genesis.invalid", "treasury must be a lowercase hex public key")
    allocations = _allocations(document["allocations"])
    params = validate_params(document.get("params", {}))
    if document.get("state_scheme", STATE_SCHEME) != STATE_SCHEME:
        raise GenesisError("genesis.unknown_state_scheme",
                           f"state_scheme {document['state_scheme']!r} is not this node's ({STATE_SCHEME!r}); "
                           "run a node of the chain's protocol version")
    try:
        packed = pack(document)
    except (TypeError, ValueError) as error:
        raise GenesisError("genesis.invalid", f"genesis holds a value the protocol cannot encode: {error}") from None
    validator_set = ValidatorSet(tuple(bytes.fromhex(key) for key in validators))
    return Genesis(chain_id, time_ms, validator_set, tuple(admins), treasury, allocations, params, sha256(packed), document)


def _integer(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_UINT64:
        raise GenesisError("genesis.invalid", f"{name} must be a non-negative integer")
    return value


def _address_list(value: Any, name: str, allow_empty: bool) -> list[str]:
    if not isinstance(value, list) or (not value and not allow_empty):
        raise GenesisError("genesis.invalid", f"{name} must be a {'' if allow_empty else 'non-empty '}list of hex public keys")
    for address in value:
        if not is_address(address):
            raise GenesisError("genesis.invalid", f"{name}: {address!r} is not a lowercase hex public key")
    if len(set(value)) != len(value):
        raise GenesisError("genesis.invalid", f"{name} lists a key twice")
    return value


def _allocations(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, list):
        raise GenesisError("genesis.invalid", "allocations must be a list of {\"address\", \"amount\"}")
    result: list[tuple[str, int]] = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"address", "amount"} or not is_address(entry["address"]):
            raise GenesisError("genesis.invalid", "each allocation is {\"address\": hex public key, \"amount\": integer}")
        result.append((entry["address"], _integer(entry["amount"], "allocation amount")))
    if sum(amount for _, amount in result) > MAX_UINT64:
        raise GenesisError("genesis.invalid", "allocations add up to more than 2^64 - 1")
    return tuple(result)


def validate_params(given: Any) -> dict[str, int | bool]:
    """The full parameter map: ``given`` over the defaults, checked."""
    if not isinstance(given, dict):
        raise GenesisError("genesis.invalid", "params must be an object")
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise GenesisError("genesis.unknown_param", f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_PARAMS)}")
    params = {**DEFAULT_PARAMS, **given}
    for name, default in DEFAULT_PARAMS.items():
        if isinstance(default, bool):
            if not isinstance(params[name], bool):
                raise GenesisError("genesis.invalid", f"parameter {name} must be true or false")
        elif type(params[name]) is not int or params[name] < 0 or params[name] > MAX_UINT64:
            raise GenesisError("genesis.invalid", f"parameter {name} must be a non-negative integer")
    _check_param_relations(params)
    return params


# Ceilings of the timing parameters: a view timeout of days would let one
# crashed primary stall the chain for as long (and no params.update could
# commit to lower it), a drift of hours would let a primary move block time,
# and with it every commerce deadline, that far ahead.
TIMING_CEILINGS_MS = {"view_timeout_ms": 600_000, "empty_block_interval_ms": 60_000,
                      "block_execution_budget_ms": 60_000, "max_clock_drift_ms": 60_000}


def _check_param_relations(params: dict[str, int | bool]) -> None:
    for name in ("fee_bps", "agent_bps"):
        if params[name] > BPS_DENOMINATOR:
            raise GenesisError("genesis.invalid", f"{name} is at most {BPS_DENOMINATOR} (100 %)")
    if params["agent_bps"] + params["validator_bps"] > BPS_DENOMINATOR:
        raise GenesisError("genesis.invalid", "agent_bps + validator_bps is at most 10000: both are shares of one fee")
    for name in ("block_bytes_max", "block_txs_max", "tx_bytes_max", "list_length_max",
                 "timed_steps_per_block_max", "empty_block_interval_ms", "view_timeout_ms"):
        if params[name] < 1:
            raise GenesisError("genesis.invalid", f"parameter {name} must be at least 1")
    if params["tx_bytes_max"] > params["block_bytes_max"]:
        raise GenesisError("genesis.invalid", "tx_bytes_max cannot exceed block_bytes_max")
    for name, ceiling_ms in TIMING_CEILINGS_MS.items():
        if params[name] > ceiling_ms:
            raise GenesisError("genesis.invalid", f"{name} is at most {ceiling_ms} ms; a larger value (seconds typed "
                                                  "as milliseconds, say) would stall the chain or let its clock run ahead")
    floor_ms = 2 * (params["empty_block_interval_ms"] + params["block_execution_budget_ms"])
    if params["view_timeout_ms"] < floor_ms:
        raise GenesisError(
            "genesis.view_timeout_too_short",
            f"view_timeout_ms must be at least twice empty_block_interval_ms + block_execution_budget_ms ({floor_ms}),"
            " or views time out while blocks are on their way",
        )
