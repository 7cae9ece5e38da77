"""SM2, SM3 and SM4 primitives.

SM3 and SM4 come from `cryptography` (OpenSSL). `cryptography` does not sign with SM2, so SM2
comes from gmalglib, a C implementation (its signatures verify with GmSSL and the other way
round). Signatures are the raw 64 bytes r‖s, public keys the uncompressed 65-byte point
04‖x‖y, and the signer's identity is the default ID of GB/T 35276 ("1234567812345678").
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from gmalglib.sm2 import SM2

SM4_KEY_BYTES = 16
_NONCE_BYTES = 12
_TAG_BYTES = 16


class DecryptionFailed(ValueError):
    """The ciphertext was altered, or was not made with this key (SM4-GCM tag mismatch)."""


# A fresh SM3 context, copied for each digest: copying costs about half of making one (the
# ledger hashes every entry it appends and verifies). It is never updated itself, so threads
# may copy it at once.
_SM3_FRESH = hashes.Hash(hashes.SM3())


def sm3(data: bytes) -> bytes:
    digest = _SM3_FRESH.copy()
    digest.update(data)
    return digest.finalize()


def sm3_hmac(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


def sm2_generate() -> tuple[bytes, bytes]:
    """A new key pair: (private scalar, 32 bytes; public point, 65 bytes)."""
    private, public = SM2().generate_keypair()
    return private, public


@lru_cache(maxsize=512)
def _sm2(private: bytes | None, public: bytes | None) -> SM2:
    # Building the object derives the public point (an EC multiplication): keep it per key.
    if private is not None:
        return SM2(sk=private)
    return SM2(pk=public)


def sm2_sign(private: bytes, message: bytes) -> bytes:
    return _sm2(private, None).sign(message)


def sm2_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        return bool(_sm2(None, public).verify(message, signature))
    except ValueError:  # not a point on the curve
        return False


def sm2_public_key_valid(public: bytes) -> bool:
    return bool(SM2.is_pk_valid(public))


def sm4_gcm_encrypt(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """nonce (12) ‖ ciphertext ‖ tag (16); a fresh random nonce each time."""
    nonce = os.urandom(_NONCE_BYTES)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + ciphertext + encryptor.tag


def sm4_gcm_decrypt(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
        raise DecryptionFailed("ciphertext too short")
    nonce, body, tag = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:-_TAG_BYTES], sealed[-_TAG_BYTES:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag as exc:
        raise DecryptionFailed("SM4-GCM tag mismatch") from exc
