"""Every commerce error code a test produces is recorded, so
test_error_coverage.py can check each code is produced, not merely named."""
from typing import Iterator

import pytest

from commerce.errors import BlockInvalid, TxRejected

PRODUCED: set[str] = set()


@pytest.fixture(autouse=True, scope="session")
def record_produced_codes() -> Iterator[None]:
    originals = {cls: cls.__init__ for cls in (TxRejected, BlockInvalid)}

    def recording(original):
        def init(self, code: str, message: str) -> None:
            PRODUCED.add(code)
            original(self, code, message)
        return init

    for cls, original in originals.items():
        cls.__init__ = recording(original)
    yield
    for cls, original in originals.items():
        cls.__init__ = original


@pytest.fixture
def produced_codes() -> set[str]:
    """The codes recorded so far (through pytest's own copy of this module)."""
    return PRODUCED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The coverage check runs after every other test has produced its codes."""
    items.sort(key=lambda item: item.path.name == "test_error_coverage.py")
