"""Admission: what a node refuses before its mempool (CometBFT's CheckTx).

A transaction whose envelope verifies may still be one no block could use:
a kind that does not exist, a body without the kind's fields or with fields
of the wrong type (a list over the chain's ``list_length_max`` among them),
a sender with no account or a suspended one. Each would
be included as a failed result, for free, by anyone who knows the chain id.
So the node refuses them when they are submitted or gossiped, with the code
the block would give. The block check does not change: a Byzantine proposer
can still include such a transaction, and it fails in the block.

A sender without an account is admitted when the transaction registers it
(``account.register`` of its own key while registration is open) or when a
registration of its own is already pending in this mempool.
"""
from __future__ import annotations

from typing import Callable

from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.accounts import get_account
from commerce.errors import TxRejected
from commerce.kinds import check_body_shape
from commerce.records import get_param
from node.errors import RequestRejected

REGISTER_KIND = "account.register"

RegistrationPending = Callable[[bytes], bool]


def registers_itself(tx: SignedTransaction) -> bool:
    """An ``account.register`` of the sender's own key."""
    return tx.kind == REGISTER_KIND and "account" not in tx.body


def check_admission(tx: SignedTransaction, state: KeyValueReader, registration_pending: RegistrationPending) -> None:
    """Raise RequestRejected unless a block could use ``tx`` as far as the
    committed ``state`` and the pending registrations tell."""
    try:
        check_body_shape(tx.kind, tx.body, get_param(state, "list_length_max"))
    except TxRejected as error:
        raise RequestRejected(error.code, error.message) from None
    account = get_account(state, tx.sender_address)
    if account is None:
        if registers_itself(tx) and get_param(state, "open_registration"):
            return
        if registration_pending(tx.sender):
            return
        raise RequestRejected("auth.not_registered",
                              f"account {tx.sender_address} is not registered; send account.register first"
                              " (or ask an admin to register it while registration is closed)")
    if account["suspended"]:
        raise RequestRejected("auth.suspended", "your account is suspended; ask an admin to reinstate it")
