"""Imports point downward only (docs/architecture.md, Layering): the pure cores touch no
I/O library and no upper layer."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "chain": {"asyncio", "aiohttp", "plyvel", "storage", "commerce", "consensus", "p2p", "node", "cli"},
    "commerce": {"asyncio", "aiohttp", "plyvel", "storage", "consensus", "p2p", "node", "cli"},
    "consensus": {"asyncio", "aiohttp", "plyvel", "storage", "commerce", "p2p", "node", "cli"},
    "storage": {"asyncio", "aiohttp", "commerce", "consensus", "p2p", "node", "cli"},
    "p2p": {"storage", "commerce", "consensus", "node", "cli"},
    "node": {"cli"},
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert offenders == {}
