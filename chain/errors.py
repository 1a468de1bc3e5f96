"""The error families of the ledger core.

A fault of a peer or a client (malformed bytes, a bad signature, a broken
rule) is expected: it is raised as a ``CodedError`` whose ``code`` is a
stable dotted name listed in docs/errors.md and whose message says what to do.
A fault of ours (misuse of an API, a broken invariant) is a plain exception.
"""


class CodedError(Exception):
    """An expected, user-visible failure with a stable dotted code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DecodeError(CodedError):
    """Bytes that are not the canonical encoding of an allowed value."""


class SignatureError(CodedError):
    """A signature that does not verify, or a signed object for another chain."""


class KeyFileError(CodedError):
    """A key file that is missing, unreadable or malformed."""


class CertificateError(CodedError):
    """A commit certificate that does not prove a block committed."""


class GenesisError(CodedError):
    """A genesis document that cannot start a chain."""


class MerkleProofError(CodedError):
    """An inclusion proof that does not connect its leaf to the root."""


class TransactionError(CodedError):
    """A signed transaction whose envelope is not acceptable."""


class BlockError(CodedError):
    """A block or header that is malformed or whose body disagrees with its header."""
