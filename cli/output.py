"""How every command speaks: human text by default, one JSON object with
--json, and user errors as ``code: message`` on stderr with exit status 1."""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, TypeVar

import click

from chain.errors import CodedError

Command = TypeVar("Command", bound=Callable[..., Any])

USER_ERROR_EXIT = 1


def emit(data: dict[str, Any], as_json: bool, human: str) -> None:
    click.echo(json.dumps(data, sort_keys=True) if as_json else human)


def reports_user_errors(command: Command) -> Command:
    """Turn a CodedError into ``code: message`` on stderr, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CodedError as error:
            click.echo(f"{error.code}: {error.message}", err=True)
            sys.exit(USER_ERROR_EXIT)

    return wrapper  # type: ignore[return-value]
