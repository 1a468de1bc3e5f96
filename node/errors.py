"""Errors the running node reports to clients."""
from chain.errors import CodedError


class RequestRejected(CodedError):
    """A client's request that the node refuses before any state changes."""
