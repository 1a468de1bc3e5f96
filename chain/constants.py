"""Protocol constants. Changing one is a protocol change (docs/protocol.md)."""

# Version of the transaction envelope and of the block header.
TX_VERSION = 1
HEADER_VERSION = 1

# Sizes fixed by the primitives: Ed25519 public keys and signatures, SHA-256.
PUBLIC_KEY_BYTES = 32
SEED_BYTES = 32
SIGNATURE_BYTES = 64
HASH_BYTES = 32

# The encoder and decoder refuse values nested deeper than this. Protocol
# objects nest at most five levels (transaction > body > list > map > value);
# the margin leaves room for new kinds while keeping recursion shallow.
MAX_NESTING_DEPTH = 16

# Largest input the strict decoder accepts when the caller gives no cap.
# A block is the largest object on the wire; the genesis default caps it at
# 4 MiB and this leaves room for its certificate and evidence.
MAX_DECODE_BYTES = 8 * 1024 * 1024

# Largest unsigned and signed integers MessagePack can carry.
MAX_UINT64 = 2**64 - 1
MIN_INT64 = -(2**63)

# Every signature covers b"shopchain/<purpose>/v1\x00" + pack([...]) so no
# signed object can be replayed as another (docs/protocol.md section 3).
SIGNING_PURPOSES = ("tx", "proposal", "vote", "view-change", "new-view", "handshake")

# Vote phases a validator signs; only "commit" votes form a certificate.
PHASE_PREPARE = "prepare"
PHASE_COMMIT = "commit"
VOTE_PHASES = (PHASE_PREPARE, PHASE_COMMIT)

# Symbol of the native asset.
NATIVE_ASSET = "SHC"

# Evidence is accepted only for heights at most this far below the next
# height, by the consensus core and in blocks alike: the bound keeps the
# pending set and each block's evidence checks small (docs/protocol.md
# section 10).
EVIDENCE_MAX_AGE = 100
# A block carries at most this many evidence records, each distinct, and a
# record (two votes, canonical) encodes to at most this many bytes: with the
# transaction caps they bound a block's encoding (chain/block.py).
EVIDENCE_PER_BLOCK_MAX = 16
EVIDENCE_BYTES_MAX = 323
