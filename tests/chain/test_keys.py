"""Key files: round trip, permissions, and every failure code."""
import json
import os
import stat

import pytest

from chain.errors import KeyFileError
from chain.keys import KeyPair, is_address, load_key_file, save_key_file, verify_signature
from tests.factories import seeded_key

KEY = seeded_key("key file")


def code(path):
    with pytest.raises(KeyFileError) as caught:
        load_key_file(path)
    return caught.value.code


def test_round_trip_and_mode(tmp_path):
    path = tmp_path / "validator.key"
    save_key_file(path, KEY)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_key_file(path)
    assert loaded.seed == KEY.seed and loaded.public_key == KEY.public_key
    assert json.loads(path.read_text()) == {"public_key": KEY.public_key.hex(), "seed": KEY.seed.hex()}


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "k"
    path.write_text("keep me")
    with pytest.raises(KeyFileError) as caught:
        save_key_file(path, KEY)
    assert caught.value.code == "key.exists"
    assert path.read_text() == "keep me"


def test_unwritable_folder(tmp_path):
    with pytest.raises(KeyFileError) as caught:
        save_key_file(tmp_path / "no" / "such" / "folder" / "k.json", KEY)
    assert caught.value.code == "key.unwritable"


def test_missing(tmp_path):
    assert code(tmp_path / "absent") == "key.missing"


def test_unreadable_directory_and_non_utf8(tmp_path):
    assert code(tmp_path) == "key.unreadable"
    path = tmp_path / "bad"
    path.write_bytes(b"\xff\xfe\x00{")
    assert code(path) == "key.unreadable"


OTHER = seeded_key("other")


@pytest.mark.parametrize("text", [
    "not json", "[]", "{}", json.dumps({"public_key": KEY.public_key.hex()}),
    json.dumps({"seed": 5, "public_key": KEY.public_key.hex()}),
    json.dumps({"seed": "zz" * 32, "public_key": KEY.public_key.hex()}),
    json.dumps({"seed": KEY.seed.hex()[:-2], "public_key": KEY.public_key.hex()}),
    json.dumps({"seed": KEY.seed.hex() + "00", "public_key": KEY.public_key.hex()}),
    json.dumps({"seed": KEY.seed.hex().upper(), "public_key": KEY.public_key.hex()}),
    json.dumps({"seed": KEY.seed.hex()}),
    json.dumps({"seed": KEY.seed.hex(), "public_key": OTHER.public_key.hex()}),
    json.dumps({"seed": KEY.seed.hex(), "public_key": KEY.public_key.hex()[:-2]}),
])
def test_malformed(tmp_path, text):
    path = tmp_path / "k"
    path.write_text(text)
    assert code(path) == "key.malformed"


def test_address_is_lowercase_hex_of_public_key():
    assert KEY.address == KEY.public_key.hex() and KEY.address == KEY.address.lower()
    assert is_address(KEY.address)
    assert not is_address(KEY.address.upper())
    assert not is_address(KEY.address[:-2])
    assert not is_address(KEY.address[:-1] + "g")


def test_seed_determines_key_and_signatures_verify():
    again = KeyPair(KEY.seed)
    assert again.public_key == KEY.public_key
    assert KeyPair.generate().public_key != KEY.public_key
    with pytest.raises(ValueError):
        KeyPair(b"short")


def test_verify_signature_answers_false_for_every_bad_input():
    message = b"shopchain"
    signature = KEY.sign(message)
    assert verify_signature(KEY.public_key, message, signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_signature(KEY.public_key, message, flipped)
    assert not verify_signature(KEY.public_key, message + b"!", signature)
    assert not verify_signature(KeyPair.generate().public_key, message, signature)
    assert not verify_signature(KEY.public_key[:-1], message, signature)
    assert not verify_signature(KEY.public_key, message, signature[:-1])
    assert not verify_signature(KEY.public_key, message, "x" * 64)
    assert not verify_signature(b"\xff" * 32, message, signature)     # not a point on the curve
