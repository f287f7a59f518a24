"""Payload encryption: AES-256-GCM over every Temporal payload, composed with the pydantic
data converter, so that questions, chunk text and answers never sit in workflow history or the
server's database as readable JSON.

Keys come from ``RAGSTATE_PAYLOAD_KEYS`` (or ``RAGSTATE_PAYLOAD_KEYS_FILE``, or a secret the
Lambda handler reads): ``ID:BASE64KEY[,ID:BASE64KEY...]``, each key 32 random bytes. The first
key encrypts; every key decrypts, so a key rotates without breaking running workflows or
replays: put the new key first, keep the old ones after it until no history needs them.

Each encrypted payload keeps only what a person needs to tell it apart: ``encoding:
binary/encrypted``, the key id and the cipher, in its metadata. Payloads over
:data:`COMPRESS_OVER` bytes are zlib-compressed before encryption when that makes them smaller.

Example::

    key = base64.b64encode(os.urandom(32)).decode()     # or: ragstate codec-server --new-key
    settings = Settings(payload_keys=f"k1:{key}")
    client = await Client.connect(..., data_converter=data_converter(settings))
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import zlib
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from ragstate.settings import Settings

__all__ = ["EncryptionCodec", "PayloadKeyError", "codec_for", "data_converter", "new_key_spec", "parse_keys"]

ENCODING = b"binary/encrypted"
CIPHER = b"AES256-GCM"
KEY_ID_KEY = "encryption-key-id"
CIPHER_KEY = "encryption-cipher"
COMPRESSION_KEY = "encryption-compression"
#: Smaller payloads are not worth compressing (zlib's header would eat the gain).
COMPRESS_OVER = 512
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """The payload key settings are malformed, or a payload needs a key that is not configured.
    Messages name key ids, never key material."""


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """``ID:BASE64KEY[,ID:BASE64KEY...]`` (commas or newlines between entries) → [(id, key)]."""
    keys: list[tuple[str, bytes]] = []
    for n, entry in enumerate((e.strip() for e in spec.replace("\n", ",").split(",")), start=1):
        if not entry or entry.startswith("#"):
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise PayloadKeyError(f"payload key {n} is not ID:BASE64KEY")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"payload key {key_id!r} is not valid base64") from None
        if len(key) != 32:
            raise PayloadKeyError(f"payload key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
        if any(key_id == known for known, _ in keys):
            raise PayloadKeyError(f"payload key id {key_id!r} appears twice")
        keys.append((key_id, key))
    if not keys:
        raise PayloadKeyError("no payload keys in the setting")
    return keys


def new_key_spec(key_id: str = "k1") -> str:
    """A fresh ``ID:BASE64KEY`` entry (32 random bytes)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with a fresh 96-bit nonce per payload; the metadata is authenticated too, so
    a payload cannot be relabelled with another key id or compression flag."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]):
        if not keys:
            raise PayloadKeyError("EncryptionCodec needs at least one key")
        self.key_id = keys[0][0]
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}

    @staticmethod
    def _aad(key_id: bytes, compression: bytes) -> bytes:
        return b"\0".join((ENCODING, CIPHER, key_id, compression))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> Payload:
        plain = payload.SerializeToString()
        compression = b""
        if len(plain) > COMPRESS_OVER:
            packed = zlib.compress(plain, 6)
            if len(packed) < len(plain):
                plain, compression = packed, b"zlib"
        key_id = self.key_id.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.key_id].encrypt(nonce, plain, self._aad(key_id, compression))
        metadata = {"encoding": ENCODING, KEY_ID_KEY: key_id, CIPHER_KEY: CIPHER}
        if compression:
            metadata[COMPRESSION_KEY] = compression
        return Payload(metadata=metadata, data=nonce + sealed)

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was turned on: still readable
        key_id = payload.metadata.get(KEY_ID_KEY, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"payload was encrypted with key id {key_id!r}, which is not among the configured "
                f"keys {sorted(self._ciphers)}: add it to RAGSTATE_PAYLOAD_KEYS"
            )
        compression = payload.metadata.get(COMPRESSION_KEY, b"")
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], self._aad(key_id.encode(), compression))
        except InvalidTag:
            raise PayloadKeyError(
                f"payload under key id {key_id!r} failed authentication (wrong key, or altered)"
            ) from None
        if compression == b"zlib":
            plain = zlib.decompress(plain)
        elif compression:
            raise PayloadKeyError(f"unknown payload compression {compression!r}")
        return Payload.FromString(plain)


def codec_for(settings: Settings) -> EncryptionCodec | None:
    """The codec the settings ask for; None when no key is configured."""
    spec = settings.payload_key_spec()
    return EncryptionCodec(parse_keys(spec)) if spec else None


def data_converter(settings: Settings) -> DataConverter:
    """The pydantic data converter, with the encryption codec when keys are configured: what
    every client and worker of ragstate connects with. Failure messages and stack traces then
    travel encoded (and so encrypted) too, instead of as plain text in history."""
    codec = codec_for(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
