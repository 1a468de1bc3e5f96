"""docs/commerce.md and commerce/ agree: every kind has its section, every
event kind, timer kind, order edge and rejection code is documented, and the
worked fee example is what the code computes."""
import ast
import re
from pathlib import Path

import pytest

from chain.genesis import DEFAULT_PARAMS
from commerce.dispatch import HANDLERS, TIMED_STEPS
from commerce.orders import ORDER_EDGES, compute_fee_shares

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "commerce.md").read_text()
SOURCES = sorted((ROOT / "commerce").glob("*.py"))
KIND_HEADING = re.compile(r"^### ([a-z_]+\.[a-z_]+)$", re.M)
# f-string event kinds and the values each placeholder takes.
PLACEHOLDERS = {"target": sorted(set(ORDER_EDGES.values()))}


def _emitted_kinds_in(tree: ast.AST, where: str) -> set[str]:
    """The first argument of every ``….emit(…)`` call: a literal, or an f-string over PLACEHOLDERS."""
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "emit"):
            continue
        assert node.args, f"{where}: emit() without a kind"
        kind = node.args[0]
        if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
            kinds.add(kind.value)
        elif isinstance(kind, ast.JoinedStr):
            kinds |= _expand(kind, where)
        else:
            raise AssertionError(f"{where}: emit() with a kind this test cannot read; extend it")
    return kinds


def _expand(joined: ast.JoinedStr, where: str) -> set[str]:
    texts = [""]
    for part in joined.values:
        if isinstance(part, ast.Constant):
            texts = [text + part.value for text in texts]
            continue
        name = part.value.id if isinstance(part.value, ast.Name) else None
        assert name in PLACEHOLDERS, f"{where}: event kind f-string over {ast.unparse(part.value)}; add it to PLACEHOLDERS"
        texts = [text + value for text in texts for value in PLACEHOLDERS[name]]
    return set(texts)


def emitted_kinds() -> list[str]:
    kinds: set[str] = set()
    for path in SOURCES:
        kinds |= _emitted_kinds_in(ast.parse(path.read_text()), path.name)
    return sorted(kinds)


def rejected_codes() -> list[str]:
    raised = re.compile(r"TxRejected\(\s*\"([a-z_]+(?:\.[a-z_]+)+)\"")
    return sorted({code for path in SOURCES for code in raised.findall(path.read_text())})


def test_scanners_find_known_names():
    assert {"order.created", "order.settled", "order.delivered", "coupon.sold", "coupon.batch_expired",
            "contract.failed"} <= set(emitted_kinds())
    assert {"coupon.sold_out", "order.illegal_step", "auth.suspended"} <= set(rejected_codes())
    with pytest.raises(AssertionError):
        _emitted_kinds_in(ast.parse('ctx.emit(f"x.{other}")'), "sample")


def test_kind_sections_follow_dispatch_order():
    assert KIND_HEADING.findall(DOC) == list(HANDLERS)


@pytest.mark.parametrize("kind", sorted(HANDLERS))
def test_every_kind_has_a_section(kind):
    assert f"\n### {kind}\n" in DOC, f"docs/commerce.md has no '### {kind}' section"


@pytest.mark.parametrize("kind", emitted_kinds())
def test_every_event_kind_is_documented(kind):
    assert f"`{kind}`" in DOC, f"event kind {kind} is emitted by commerce/ but not in docs/commerce.md"


@pytest.mark.parametrize("kind", sorted(TIMED_STEPS))
def test_every_timer_kind_is_documented(kind):
    assert f"| `{kind}` |" in DOC, f"timer kind {kind} has no row in the time-driven steps table"


@pytest.mark.parametrize("edge", sorted(ORDER_EDGES), ids=lambda edge: "-".join(edge))
def test_every_order_edge_is_in_the_table(edge):
    start, step = edge
    rows = [line for line in DOC.splitlines() if line.startswith(f"| {start} | {step} |")]
    assert len(rows) == 1 and f"| {ORDER_EDGES[edge]} |" in rows[0], f"order edge {edge} missing from the order table"


@pytest.mark.parametrize("code", rejected_codes())
def test_every_rejection_code_is_mentioned(code):
    assert f"`{code}`" in DOC, f"{code} is raised by commerce/ but docs/commerce.md never names it"


def test_worked_fee_example_is_what_the_code_computes():
    assert compute_fee_shares(17_000, DEFAULT_PARAMS, 4, True) == {
        "fee": 340, "agent": 68, "validator_each": 25, "treasury": 172, "merchant": 16_660}
    assert compute_fee_shares(12_750, DEFAULT_PARAMS, 4, True) == {
        "fee": 255, "agent": 51, "validator_each": 19, "treasury": 128, "merchant": 12_495}
    assert (DEFAULT_PARAMS["fee_bps"], DEFAULT_PARAMS["agent_bps"], DEFAULT_PARAMS["validator_bps"]) == (200, 2_000, 3_000)
    flowing = " ".join(DOC.split())
    for text in ("treasury = 340 − 68 − 100 = 172", "merchant = 17000 − 340 = 16660", "treasury = 255 − 51 − 76 = 128",
                 "merchant = 12495"):
        assert text in flowing, text
