"""``params.update``: an admin changes one parameter; the whole set must stay valid."""
from __future__ import annotations

from typing import Any, Mapping


from chain.errors import GenesisError
from chain.genesis import DEFAULT_PARAMS, validate_params
from chain.transaction import SignedTransaction
from commerce.accounts import require_admin
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.keys import param_key
from commerce.overlay import Overlay
from commerce.records import get_params, put_record


def param_name(body: Mapping[str, Any], name: str) -> str:
    """The name of a chain parameter; ``params.unknown`` otherwise."""
    value = body[name]
    if not isinstance(value, str) or value not in DEFAULT_PARAMS:
        raise TxRejected("params.unknown", f"no parameter {value!r}; known: {', '.join(DEFAULT_PARAMS)}")
    return value


def process_params_update(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_admin(state, ctx.sender)
    name, value = param_name(body, "name"), body["value"]
    # Verify the whole parameter set stays valid
    try:
        validate_params({**get_params(state), name: value})
    except GenesisError as error:
        raise TxRejected("params.invalid", f"{error.message}; choose another value") from None
    put_record(state, param_key(name), value)
    ctx.emit("params.updated", name=name, value=value)

