"""Accounts and roles: register, request_role, approve, suspend, reinstate.

An account is its hex public key. Registration grants ``consumer``; other
roles (merchant, agent, carrier) are requested with a profile hash and stay
pending until an admin approves them. Genesis admins hold ``admin``.
"""
from __future__ import annotations

from typing import Any, Mapping

from chain.kv import KeyValueReader
from chain.transaction import SignedTransaction
from commerce.body import address_field, hash_field, text_field
from commerce.context import Context
from commerce.errors import TxRejected
from commerce.keys import account_key
from commerce.overlay import Overlay
from commerce.records import get_param, get_record, put_record

REQUESTABLE_ROLES = ("agent", "carrier", "merchant")


def get_account(state: KeyValueReader, address: str) -> dict[str, Any] | None:
    return get_record(state, account_key(address))


def put_account(state: Overlay, address: str, account: dict[str, Any]) -> None:
    put_record(state, account_key(address), account)


def new_account(name: str, roles: list[str]) -> dict[str, Any]:
    return {"name": name, "roles": sorted(roles), "pending": {}, "suspended": False}


def is_suspended(state: KeyValueReader, address: str) -> bool:
    account = get_account(state, address)
    return account is not None and account["suspended"]


def has_role(state: KeyValueReader, address: str, role: str) -> bool:
    account = get_account(state, address)
    return account is not None and role in account["roles"]


def require_registered(state: KeyValueReader, address: str) -> dict[str, Any]:
    account = get_account(state, address)
    # Verify the account is registered
    if account is None:
        raise TxRejected("auth.not_registered", f"account {address} is not registered; send account.register first")
    return account


def require_role(state: KeyValueReader, address: str, role: str) -> dict[str, Any]:
    account = require_registered(state, address)
    # Verify the account holds the role
    if role not in account["roles"]:
        raise TxRejected("auth.forbidden", f"this needs the {role} role; request it with account.request_role")
    return account


def require_admin(state: KeyValueReader, address: str) -> None:
    # Verify the sender is an admin
    if not has_role(state, address, "admin"):
        raise TxRejected("auth.forbidden", "only an admin may do this; ask an admin of the chain")


def process_account_register(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    """Register the sender, or with ``account`` (admins only) another key:
    how an admin enrols users while registration is closed."""
    body = tx.body
    name = text_field(body, "name")
    target = address_field(body, "account") if "account" in body else ctx.sender
    sender_is_admin = has_role(state, ctx.sender, "admin")
    # Verify only an admin registers a key other than its own
    if target != ctx.sender and not sender_is_admin:
        raise TxRejected("auth.forbidden", "only an admin may register another key; register your own key without 'account'")
    # Verify registration is open, or an admin registers
    if not get_param(state, "open_registration") and not sender_is_admin:
        raise TxRejected("auth.registration_closed", "registration is closed on this chain; ask an admin to register your key")
    # Verify the key has no account yet
    if get_account(state, target) is not None:
        raise TxRejected("account.exists", "this key is already registered; use another key")
    account = new_account(name, ["consumer"])
    if "referrer" in body:
        referrer = address_field(body, "referrer")
        # Verify the referrer is an agent
        if not has_role(state, referrer, "agent"):
            raise TxRejected("account.bad_referrer", "the referrer is not an approved agent; omit it or name an agent")
        account["referrer"] = referrer
    put_account(state, target, account)
    ctx.emit("account.registered", account=target)


def requestable_role(body: Mapping[str, Any], name: str) -> str:
    """A role an account may request; ``account.bad_role`` otherwise."""
    role = body[name]
    if role not in REQUESTABLE_ROLES:
        raise TxRejected("account.bad_role", f"role must be one of {', '.join(REQUESTABLE_ROLES)}")
    return role


def process_account_request_role(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    account = require_registered(state, ctx.sender)
    role = requestable_role(body, "role")
    # Verify the role is not held yet
    if role in account["roles"]:
        raise TxRejected("account.has_role", f"the account already holds {role}; nothing to request")
    account["pending"][role] = hash_field(body, "profile_hash")
    put_account(state, ctx.sender, account)
    ctx.emit("account.role_requested", account=ctx.sender, role=role)


def process_account_approve(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_admin(state, ctx.sender)
    address = address_field(body, "account")
    account = require_registered(state, address)
    role = body["role"]
    # Verify the role was requested
    if not isinstance(role, str) or role not in account["pending"]:
        raise TxRejected("account.no_request", f"the account has not requested {role!r}; it must send account.request_role")
    del account["pending"][role]
    account["roles"] = sorted(account["roles"] + [role])
    put_account(state, address, account)
    ctx.emit("account.approved", account=address, role=role)


def process_account_suspend(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_admin(state, ctx.sender)
    address = address_field(body, "account")
    reason = text_field(body, "reason")
    account = require_registered(state, address)
    # Verify the account is active and not the sender itself
    if address == ctx.sender:
        raise TxRejected("account.self_suspend", "an admin cannot suspend itself; ask another admin")
    if account["suspended"]:
        raise TxRejected("account.suspended_already", "the account is already suspended")
    account["suspended"] = True
    put_account(state, address, account)
    ctx.emit("account.suspended", account=address, reason=reason)


def process_account_reinstate(state: Overlay, tx: SignedTransaction, ctx: Context) -> None:
    body = tx.body
    require_admin(state, ctx.sender)
    address = address_field(body, "account")
    account = require_registered(state, address)
    # Verify the account is suspended
    if not account["suspended"]:
        raise TxRejected("account.not_suspended", "the account is not suspended; nothing to reinstate")
    account["suspended"] = False
    put_account(state, address, account)
    ctx.emit("account.reinstated", account=address)
