"""`pkcs11` key provider: KEKs and the signing key live in an HSM and never leave it.

- KEK version N is an AES-256 secret-key object labelled `<prefix>-N`, generated in
  the token as sensitive and non-extractable. Wrapping is CKM_AES_GCM *encryption* of
  the DEK bytes inside the token, with our random 12-byte IV and the AAD passed as
  mechanism parameters, in the same byte layout as the software providers
  (`wrapped.WrappedKey`). C_WrapKey is not used because the DEK is a byte string in
  application memory, not a token object.
- The audit signing key is an Ed25519 key pair (CKM_EC_EDWARDS_KEY_PAIR_GEN, signing
  with CKM_EDDSA) labelled `signing_label`; the private half is non-extractable.

One logged-in session is held and serialised with a lock: a PKCS#11 session must not
be used by two threads at once. Login state is per process, so a second provider on
the same token in the same process is refused: share one instance.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Self, cast

import pkcs11
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pkcs11 import (
    Attribute,
    KeyType,
    Mechanism,
    ObjectClass,
    PrivateKey,
    PublicKey,
    SecretKey,
    Session,
)
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams
from pkcs11.types import DecryptMixin, EncryptMixin, SignMixin
from pkcs11.util.ec import encode_named_curve_parameters

from registry.crypto.ciphertext import DecryptionError
from registry.crypto.providers.base import public_key_hash
from registry.crypto.providers.software import self_test
from registry.crypto.providers.wrapped import MAX_KEK_VERSION, WrappedKey
from registry.crypto.suites import NONCE_LENGTH
from registry.errors import ConfigurationError, Unavailable

ED25519_OID = "1.3.101.112"  # RFC 8410 id-Ed25519, the CKA_EC_PARAMS SoftHSM accepts
# How long a process trusts its list of KEK versions before looking for a rotation
# made by another process (the CLI). Monotonic time: wall-clock jumps do not matter.
KEK_LIST_TTL_SECONDS = 30.0

# Errors that mean "the token is not reachable", as opposed to "this blob is bad".
_UNAVAILABLE = (
    p11.DeviceError,
    p11.DeviceMemory,
    p11.DeviceRemoved,
    p11.HostMemory,
    p11.SessionClosed,
    p11.SessionHandleInvalid,
    p11.TokenNotPresent,
    p11.TokenNotRecognised,
    p11.UserNotLoggedIn,
)

_KEK_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.ENCRYPT: True,
    Attribute.DECRYPT: True,
    # Only AEAD encryption of DEK bytes: no C_WrapKey of token keys, no signing.
    Attribute.WRAP: False,
    Attribute.UNWRAP: False,
    Attribute.SIGN: False,
    Attribute.VERIFY: False,
    Attribute.DERIVE: False,
}
_SIGNING_PRIVATE_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.SIGN: True,
    Attribute.DERIVE: False,
}
_SIGNING_PUBLIC_TEMPLATE: dict[Attribute, Any] = {
    Attribute.TOKEN: True,
    Attribute.PRIVATE: False,
    Attribute.VERIFY: True,
}


class Pkcs11KeyProvider:
    name = "pkcs11"

    def __init__(
        self,
        module_path: str | Path,
        token_label: str,
        pin: str,
        kek_label_prefix: str = "registry-kek",
        signing_label: str = "registry-signing",
    ) -> None:
        self._token_label = token_label
        self._signing_label = signing_label
        self._kek_prefix = kek_label_prefix
        self._kek_label = _kek_label_pattern(kek_label_prefix)
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._session = _open_session(module_path, token_label, pin)
        try:
            self._keks = self._find_keks()
            if not self._keks:
                raise ConfigurationError(
                    f"token {token_label!r} holds no KEK labelled {kek_label_prefix}-N: "
                    "initialise it first (Pkcs11KeyProvider.initialise)"
                )
            self._keks_loaded = time.monotonic()
            self._signer, self._public = self._find_signing_key(signing_label)
        except BaseException:
            self.close()
            raise

    @classmethod
    def initialise(
        cls,
        module_path: str | Path,
        token_label: str,
        pin: str,
        kek_label_prefix: str = "registry-kek",
        signing_label: str = "registry-signing",
    ) -> Pkcs11KeyProvider:
        """Create KEK v1 and the signing key pair where absent, then open the provider."""
        session = _open_session(module_path, token_label, pin)
        try:
            if not _kek_objects(session, _kek_label_pattern(kek_label_prefix)):
                _generate_kek(session, f"{kek_label_prefix}-1")
            if not _objects(session, ObjectClass.PRIVATE_KEY, signing_label):
                _generate_signing_key(session, signing_label)
        except p11.PKCS11Error as error:
            raise ConfigurationError(
                f"could not create keys in token {token_label!r}: {type(error).__name__}"
            ) from None
        finally:
            session.close()
        return cls(module_path, token_label, pin, kek_label_prefix, signing_label)

    @property
    def kek_version(self) -> int:
        with self._lock:
            return max(self._kek_map())

    def wrap(self, key: bytes, *, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_LENGTH)
        with self._lock:
            self._live_session()
            version = max(self._kek_map())
            header = WrappedKey(version, nonce, b"")
            param = GCMParams(nonce, header.associated_data(aad))
            try:
                sealed = _aes(self._keks[version]).encrypt(key, mechanism=Mechanism.AES_GCM, mechanism_param=param)
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None
        # bytes in, bytes out (an iterator comes back only for an iterator of chunks).
        return WrappedKey(version, nonce, bytes(cast(bytes, sealed))).to_bytes()

    def unwrap(self, wrapped: bytes, *, aad: bytes) -> bytes:
        parsed = WrappedKey.parse(wrapped)
        with self._lock:
            self._live_session()
            kek = self._kek_map().get(parsed.kek_version)
            if kek is None:
                # Perhaps rotated by another process since our last look.
                kek = self._kek_map(refresh=True).get(parsed.kek_version)
            if kek is None:
                raise DecryptionError
            param = GCMParams(parsed.nonce, parsed.associated_data(aad))
            try:
                opened = _aes(kek).decrypt(parsed.sealed, mechanism=Mechanism.AES_GCM, mechanism_param=param)
                return bytes(cast(bytes, opened))  # bytes in, bytes out
            except _UNAVAILABLE as error:
                raise _unavailable(error) from None
            except p11.PKCS11Error:
                # SoftHSM reports a tag mismatch as CKR_GENERAL_ERROR, others as
                # CKR_ENCRYPTED_DATA_INVALID: every non-availability error is "bad blob".
                pass
        raise DecryptionError

    def rotate_kek(self) -> int:
        with self._lock:
            version = max(self._kek_map(refresh=True)) + 1
            if version > MAX_KEK_VERSION:
                raise ConfigurationError("KEK version space exhausted")
            try:
                self._keks[version] = _generate_kek(self._live_session(), f"{self._kek_prefix}-{version}")
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None
        return version

    def sign(self, message: bytes) -> bytes:
        with self._lock:
            self._live_session()
            try:
                # python-pkcs11 types key objects without their capability mixins; the
                # objects a token returns for a signing key carry SignMixin.
                return bytes(cast(SignMixin, self._signer).sign(message, mechanism=Mechanism.EDDSA))
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    @property
    def key_hash(self) -> bytes:
        return public_key_hash(self._public)

    @property
    def key_id(self) -> str:
        return self.key_hash.hex()

    def check(self) -> None:
        self_test(self)

    # Issuing keys live in the token beside the audit key, non-extractable, labelled
    # `<signing_label>-issuing-<label>`: the service never holds their private halves.

    def _issuing_label(self, label: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", label):
            raise ValueError("issuing key label: 1-64 of A-Z a-z 0-9 _ -")
        return f"{self._signing_label}-issuing-{label}"

    def create_issuing_key(self, label: str) -> Ed25519PublicKey | None:
        full = self._issuing_label(label)
        with self._lock:
            session = self._live_session()
            try:
                if not _objects(session, ObjectClass.PRIVATE_KEY, full):
                    _generate_signing_key(session, full)
                _, public = self._find_signing_key(full)
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None
        return public

    def issuing_public_key(self, label: str) -> Ed25519PublicKey | None:
        full = self._issuing_label(label)
        with self._lock:
            try:
                if not _objects(self._live_session(), ObjectClass.PRIVATE_KEY, full):
                    return None
                return self._find_signing_key(full)[1]
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None

    def sign_issuing(self, label: str, message: bytes) -> bytes:
        full = self._issuing_label(label)
        with self._lock:
            try:
                found = _objects(self._live_session(), ObjectClass.PRIVATE_KEY, full)
                if len(found) != 1:
                    raise DecryptionError
                return bytes(cast(SignMixin, found[0]).sign(message, mechanism=Mechanism.EDDSA))
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None

    def close(self) -> None:
        """Log out and close the session. Idempotent; later operations raise Unavailable."""
        with self._lock:
            session, self._session = self._session, None
            if session is None:
                return
            try:
                session.close()
            except p11.PKCS11Error:
                pass  # already gone with the token; nothing left to release

    def __del__(self) -> None:
        # python-pkcs11 does not close sessions on garbage collection: a discarded
        # provider would keep the process logged in and block the next one.
        if getattr(self, "_session", None) is not None:
            self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        versions = sorted(self._keks)
        return f"Pkcs11KeyProvider(token={self._token_label!r}, kek_versions={versions})"

    def _kek_map(self, *, refresh: bool = False) -> dict[int, SecretKey]:
        """KEK objects by version; re-read from the token when stale. Caller holds lock."""
        if refresh or time.monotonic() - self._keks_loaded > KEK_LIST_TTL_SECONDS:
            try:
                found = self._find_keks()
            except p11.PKCS11Error as error:
                raise _unavailable(error) from None
            self._keks.update(found)
            self._keks_loaded = time.monotonic()
        return self._keks

    def _live_session(self) -> Session:
        # Checked before every operation: key objects of a closed session hold a stale
        # handle that the library may already have given to another session.
        if self._session is None:
            raise Unavailable("the pkcs11 key provider is closed")
        return self._session

    def _find_keks(self) -> dict[int, SecretKey]:
        return _kek_objects(self._live_session(), self._kek_label)

    def _find_signing_key(self, label: str) -> tuple[PrivateKey, Ed25519PublicKey]:
        session = self._live_session()
        private = _objects(session, ObjectClass.PRIVATE_KEY, label)
        public = _objects(session, ObjectClass.PUBLIC_KEY, label)
        if (
            len(private) != 1
            or len(public) != 1
            or not isinstance(private[0], PrivateKey)
            or not isinstance(public[0], PublicKey)
        ):
            raise ConfigurationError(
                f"token {self._token_label!r} must hold exactly one Ed25519 key pair "
                f"labelled {label!r}: initialise it first (Pkcs11KeyProvider.initialise)"
            )
        return private[0], _ed25519_public_key(public[0][Attribute.EC_POINT])


def _open_session(module_path: str | Path, token_label: str, pin: str) -> Session:
    """A logged-in read-write session; errors become ConfigurationError without the PIN."""
    problem: str | None = None
    try:
        token = pkcs11.lib(str(module_path)).get_token(token_label=token_label)
    except p11.NoSuchToken:
        problem = f"no PKCS#11 token labelled {token_label!r} in {module_path}"
    except p11.MultipleTokensReturned:
        problem = f"more than one PKCS#11 token labelled {token_label!r} in {module_path}"
    except (OSError, RuntimeError) as error:  # PKCS11Error is a RuntimeError
        problem = f"cannot load PKCS#11 module {module_path}: {type(error).__name__}"
    if problem is not None:
        raise ConfigurationError(problem)
    try:
        return token.open(rw=True, user_pin=pin)
    except p11.UserAlreadyLoggedIn:
        # Login state is per process: another session here is logged in, and the
        # token did not even check this PIN. Refuse rather than accept it unchecked.
        problem = (
            f"this process already holds a logged-in session on token {token_label!r}: "
            "share one Pkcs11KeyProvider per process (or close the other first)"
        )
    except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinLocked):
        problem = f"PKCS#11 login to token {token_label!r} failed: check the PIN"
    except p11.PKCS11Error as error:
        problem = f"cannot open a session on token {token_label!r}: {type(error).__name__}"
    raise ConfigurationError(problem)


def _kek_label_pattern(prefix: str) -> re.Pattern[str]:
    # "<prefix>-<version>", version without leading zeros so each has one spelling.
    return re.compile(re.escape(prefix) + r"-([1-9][0-9]{0,9})")


def _objects(session: Session, object_class: ObjectClass, label: str) -> list[Any]:
    return list(session.get_objects({Attribute.CLASS: object_class, Attribute.LABEL: label}))


def _kek_objects(session: Session, label: re.Pattern[str]) -> dict[int, SecretKey]:
    found: dict[int, SecretKey] = {}
    query = {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
    for obj in session.get_objects(query):
        if not isinstance(obj, SecretKey):
            continue
        match = label.fullmatch(obj.label or "")
        if match is None:
            continue
        version = int(match.group(1))
        if version in found or version > MAX_KEK_VERSION:
            # Two objects claiming one version: refusing beats guessing which wrapped.
            raise ConfigurationError(f"token has an ambiguous or invalid KEK {obj.label!r}")
        found[version] = obj
    return found


class _AesKey(EncryptMixin, DecryptMixin):
    """What a KEK object is at run time: python-pkcs11 types the objects a token returns as
    the bare `SecretKey`, without the capability mixins its concrete classes carry."""


def _aes(key: SecretKey) -> _AesKey:
    return cast(_AesKey, key)


def _generate_kek(session: Session, label: str) -> SecretKey:
    return session.generate_key(KeyType.AES, 256, label=label, store=True, template=dict(_KEK_TEMPLATE))


def _generate_signing_key(session: Session, label: str) -> None:
    try:
        params = session.create_domain_parameters(
            KeyType.EC_EDWARDS,
            {Attribute.EC_PARAMS: encode_named_curve_parameters(ED25519_OID)},
            local=True,
        )
        params.generate_keypair(
            label=label,
            store=True,
            public_template=dict(_SIGNING_PUBLIC_TEMPLATE),
            private_template=dict(_SIGNING_PRIVATE_TEMPLATE),
        )
    except (p11.MechanismInvalid, p11.DomainParamsInvalid, p11.FunctionNotSupported):
        raise ConfigurationError("the PKCS#11 token does not support Ed25519 (CKM_EC_EDWARDS_KEY_PAIR_GEN)") from None


def _ed25519_public_key(ec_point: bytes) -> Ed25519PublicKey:
    # PKCS#11 3.0 says CKA_EC_POINT is a DER OCTET STRING (04 20 ‖ key); some tokens
    # return the bare 32 bytes. Accept both, nothing else.
    point = bytes(ec_point)
    if len(point) == 34 and point[:2] == b"\x04\x20":
        point = point[2:]
    if len(point) != 32:
        raise ConfigurationError("the token's signing key is not an Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(point)


def _unavailable(error: Exception) -> Unavailable:
    return Unavailable(f"PKCS#11 token operation failed: {type(error).__name__}")
