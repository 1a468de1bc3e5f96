"""Errors of the network layer: every one means "drop this peer"."""
from chain.errors import CodedError


class PeerError(CodedError):
    """A peer broke the protocol; the connection is closed and the peer backed off."""
