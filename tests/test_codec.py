"""ragstate.security.codec: AES-256-GCM payload encryption, key rotation, and its errors."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from ragstate.models import RagQuery
from ragstate.security.codec import (
    COMPRESSION_KEY,
    ENCODING,
    EncryptionCodec,
    PayloadKeyError,
    data_converter,
    parse_keys,
)
from ragstate.settings import Settings


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_round_trip_hides_the_text_and_keeps_the_payload():
    codec = EncryptionCodec(parse_keys(f"k1:{key()}"))
    original = plain("What is BM25?")
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata["encryption-key-id"] == b"k1"
    assert b"BM25" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [original]


async def test_a_large_payload_is_compressed_before_encryption():
    codec = EncryptionCodec(parse_keys(f"k1:{key()}"))
    big = plain("chunk text " * 500)
    [sealed] = await codec.encode([big])
    assert sealed.metadata[COMPRESSION_KEY] == b"zlib"
    assert len(sealed.data) < len(big.data) / 5
    assert await codec.decode([sealed]) == [big]


async def test_rotation_old_payloads_decrypt_with_the_old_key_listed_second():
    old, new = key(), key()
    [sealed_by_old] = await EncryptionCodec(parse_keys(f"old:{old}")).encode([plain("before rotation")])
    rotated = EncryptionCodec(parse_keys(f"new:{new},old:{old}"))
    assert await rotated.decode([sealed_by_old]) == [plain("before rotation")]
    [sealed_by_new] = await rotated.encode([plain("after")])
    assert sealed_by_new.metadata["encryption-key-id"] == b"new"


async def test_a_missing_key_id_is_named_and_no_key_material_is_shown():
    secret = key()
    [sealed] = await EncryptionCodec(parse_keys(f"gone:{secret}")).encode([plain("x")])
    other = key()
    with pytest.raises(PayloadKeyError, match="key id 'gone'") as e:
        await EncryptionCodec(parse_keys(f"k2:{other}")).decode([sealed])
    assert secret not in str(e.value) and other not in str(e.value)


async def test_altered_ciphertext_or_relabelled_metadata_fails_authentication():
    k = key()
    codec = EncryptionCodec(parse_keys(f"k1:{k}"))
    [sealed] = await codec.encode([plain("x" * 2000)])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadKeyError, match="failed authentication"):
        await codec.decode([flipped])
    relabelled = Payload(
        metadata={k_: v for k_, v in sealed.metadata.items() if k_ != COMPRESSION_KEY}, data=sealed.data
    )
    with pytest.raises(PayloadKeyError, match="failed authentication"):
        await codec.decode([relabelled])


async def test_plain_payloads_written_before_encryption_still_decode():
    codec = EncryptionCodec(parse_keys(f"k1:{key()}"))
    assert await codec.decode([plain("legacy")]) == [plain("legacy")]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("k1", "not ID:BASE64KEY"),
        ("k1:%%%", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "has 5 bytes"),
        ("", "no payload keys"),
    ],
)
def test_malformed_key_settings_are_refused_clearly(spec, message):
    with pytest.raises(PayloadKeyError, match=message):
        parse_keys(spec)


def test_a_repeated_key_id_is_refused():
    with pytest.raises(PayloadKeyError, match="appears twice"):
        parse_keys(f"k1:{key()},k1:{key()}")


async def test_the_data_converter_encrypts_only_when_keys_are_set(tmp_path):
    assert data_converter(Settings(_env_file=None)).payload_codec is None
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# rotated 2026-12-01\nk2:{key()}\nk1:{key()}\n")
    converter = data_converter(Settings(payload_keys_file=keys_file, _env_file=None))
    [payload] = await converter.encode([RagQuery(question="What is RRF?")])
    assert payload.metadata["encryption-key-id"] == b"k2" and b"RRF" not in payload.data
    [back] = await converter.decode([payload], [RagQuery])
    assert back == RagQuery(question="What is RRF?")
