"""Errors of the storage layer that an operator can meet."""
from chain.errors import CodedError


class StorageError(CodedError):
    """A database that cannot be opened or read as a Shopchain store."""
