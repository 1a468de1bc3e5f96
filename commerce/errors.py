"""The two failures of commerce.

``TxRejected``: one transaction broke a rule; it is included as a failed
result (its nonce consumed, nothing else changed). ``BlockInvalid``: the block
itself cannot be accepted (a nonce out of order, a cap exceeded): no vote.
"""
from chain.errors import CodedError


class TxRejected(CodedError):
    """A transaction that broke a business rule or carried a malformed body."""


class BlockInvalid(CodedError):
    """A block no validator may vote for."""
