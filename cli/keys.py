"""`shopchain keys new|show`: Ed25519 key files."""
from __future__ import annotations

import click

from chain.keys import KeyPair, load_key_file, save_key_file
from cli.output import emit, reports_user_errors


@click.group("keys")
def keys_group() -> None:
    """Create and inspect key files ({"public_key", "seed"}, mode 0600)."""


@keys_group.command("new")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Where to write the key file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def keys_new(out_path: str, as_json: bool) -> None:
    """Generate a key and write it to --out (never overwrites)."""
    key = KeyPair.generate()
    save_key_file(out_path, key)
    emit({"address": key.address, "file": out_path}, as_json, f"address {key.address}\nwritten to {out_path} (mode 0600)")


@keys_group.command("show")
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_user_errors
def keys_show(key_file: str, as_json: bool) -> None:
    """Print the address (public key) of KEY_FILE; the seed stays in the file."""
    key = load_key_file(key_file)
    emit({"address": key.address, "public_key": key.public_key.hex()}, as_json, key.address)
