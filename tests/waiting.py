"""Waiting on a condition with a deadline: the suite's one way to wait."""
import asyncio
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")

POLL_S = 0.01


async def eventually(condition: Callable[[], bool], deadline_s: float = 10.0, what: str = "condition") -> None:
    """Return once ``condition()`` holds; fail after ``deadline_s``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while not condition():
        if loop.time() >= end:
            raise AssertionError(f"{what} not reached within {deadline_s} s")
        await asyncio.sleep(POLL_S)


def eventually_sync(condition: Callable[[], bool], deadline_s: float = 10.0, what: str = "condition") -> None:
    """The same for code outside an event loop (child processes, files)."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() >= end:
            raise AssertionError(f"{what} not reached within {deadline_s} s")
        time.sleep(POLL_S)


async def eventually_value(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], deadline_s: float = 10.0,
                           what: str = "condition") -> T:
    """Call ``probe`` until ``accept`` takes its value, and return that value; fail after ``deadline_s``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        value = await probe()
        if accept(value):
            return value
        if loop.time() >= end:
            raise AssertionError(f"{what} not reached within {deadline_s} s; last seen {value!r}")
        await asyncio.sleep(POLL_S)
