"""Cipher suites: which AEAD encrypts data and which hash backs MACs and HKDF.

A deployment picks one suite at init and records it in the database; the suite id is
also written into every ciphertext header so a blob can never be opened under the
other suite by accident. Only pyca/cryptography primitives are composed here.
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# 96-bit nonces are the GCM fast path (NIST SP 800-38D §8.2.2); random nonces stay
# safe for up to 2**32 messages per key, far above one data key's lifetime.
NONCE_LENGTH = 12
# Full 128-bit tags: truncated tags weaken forgery resistance (SP 800-38D App. C).
TAG_LENGTH = 16


class Suite(StrEnum):
    """The two supported suites; the value is what settings and the database store."""

    AES256GCM = "aes256gcm"  # AES-256-GCM data, HMAC-SHA256 indexes, HKDF-SHA256
    SM4GCM = "sm4gcm"  # SM4-GCM data, HMAC-SM3 indexes, HKDF-SM3 (GB/T 39786)

    @classmethod
    def from_id(cls, suite_id: int) -> Suite:
        """The suite whose header id is `suite_id`; ValueError if there is none."""
        for suite in cls:
            if suite.suite_id == suite_id:
                return suite
        raise ValueError("unknown cipher suite id")

    @property
    def suite_id(self) -> int:
        """One byte in the ciphertext header. Never renumber: stored data uses it."""
        return _SUITE_IDS[self]

    @property
    def key_length(self) -> int:
        """Data-key length in bytes (AES-256: 32, SM4: 16)."""
        return 32 if self is Suite.AES256GCM else 16

    def hash_algorithm(self) -> hashes.HashAlgorithm:
        """A fresh hash object for HMAC and HKDF (SHA-256 or SM3, both 32 bytes)."""
        return hashes.SHA256() if self is Suite.AES256GCM else hashes.SM3()

    def mac(self, key: bytes, data: bytes) -> bytes:
        """HMAC-SHA256 or HMAC-SM3 of `data` (32 bytes)."""
        h = hmac.HMAC(key, self.hash_algorithm())
        h.update(data)
        return h.finalize()

    def seal(self, key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """AEAD-encrypt; returns `ciphertext ‖ tag(16)`."""
        self._check(key, nonce)
        if self is Suite.AES256GCM:
            return AESGCM(key).encrypt(nonce, plaintext, associated_data)
        encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return body + encryptor.tag

    def open(self, key: bytes, nonce: bytes, sealed: bytes, associated_data: bytes) -> bytes:
        """AEAD-decrypt `ciphertext ‖ tag`; raises `InvalidTag` on any mismatch."""
        self._check(key, nonce)
        if len(sealed) < TAG_LENGTH:
            raise InvalidTag
        if self is Suite.AES256GCM:
            return AESGCM(key).decrypt(nonce, sealed, associated_data)
        body, tag = sealed[:-TAG_LENGTH], sealed[-TAG_LENGTH:]
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(associated_data)
        return decryptor.update(body) + decryptor.finalize()

    def _check(self, key: bytes, nonce: bytes) -> None:
        # AESGCM would also accept 16/24-byte keys; insist on the suite's length so a
        # truncated key cannot silently downgrade AES-256 to AES-128.
        if len(key) != self.key_length:
            raise ValueError(f"{self.value} needs a {self.key_length}-byte key")
        if len(nonce) != NONCE_LENGTH:
            raise ValueError(f"nonce must be {NONCE_LENGTH} bytes")


_SUITE_IDS: dict[Suite, int] = {Suite.AES256GCM: 1, Suite.SM4GCM: 2}
