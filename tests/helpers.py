"""Small helpers shared by tests."""
import json
from pathlib import Path
from typing import Any

# The design's test vectors (encoding, transactions, Merkle proofs, blocks), kept
# in the repository so a clone tests itself with nothing beside it.
DESIGN_VECTORS = Path(__file__).resolve().parent / "vectors" / "design"


def load_shared_vector(name: str) -> dict[str, Any]:
    return json.loads((DESIGN_VECTORS / name).read_text())


def from_json_body(value: Any) -> Any:
    """The body of a vector: JSON with bytes written as {"hex": ...}."""
    if isinstance(value, dict):
        if set(value) == {"hex"}:
            return bytes.fromhex(value["hex"])
        return {key: from_json_body(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json_body(item) for item in value]
    return value
