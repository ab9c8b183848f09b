"""The permit credential's issuing key held by a PKCS#11 token (issue 17, Deliver 2): made
in the token, sensitive and non-extractable, never read out; the row keeps its label and
public half and nothing wrapped. Signatures (the SD-JWT and the status list) come from the
token and verify with the published key; a row that does not match the token's key is
left out of what is published; rotation keeps the old key published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pkcs11
import pytest
import sqlalchemy as sa
from jwcrypto import jwk, jws
from pkcs11 import Attribute, ObjectClass
from sd_jwt.common import SDObj
from sqlmodel import Session, SQLModel, select

import registry.models  # noqa: F401  (every table)
from registry.clock import FixedClock
from registry.credentials import keys
from registry.credentials.jws import SignedBy, jwt
from registry.credentials.models import CredentialKey
from registry.crypto.keyring import Keyring
from registry.crypto.providers import Pkcs11KeyProvider
from registry.crypto.suites import Suite
from registry.errors import IntegrityFailure
from tests.crypto.conftest import SoftHsm

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.fixture
def keyring(softhsm: SoftHsm) -> Iterator[Keyring]:
    provider = Pkcs11KeyProvider.initialise(softhsm.module, softhsm.token, softhsm.pin)
    yield Keyring(provider, Suite.AES256GCM, FixedClock(NOW), index_bits=16)
    provider.close()


@pytest.fixture
def engine(tmp_path) -> sa.Engine:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    SQLModel.metadata.create_all(engine, tables=[CredentialKey.__table__])  # type: ignore[list-item]
    return engine


def _verifies(token: str, published: list[dict[str, str]]) -> bool:
    parsed = jws.JWS()
    parsed.deserialize(token)
    header = parsed.jose_header
    (key,) = [k for k in published if k["kid"] == header["kid"]]
    try:
        parsed.verify(jwk.JWK(**key), alg="EdDSA")
    except jws.InvalidJWSSignature:
        return False
    return True


def test_the_issuing_key_is_made_in_the_token_and_signs_there(keyring: Keyring, engine, softhsm: SoftHsm) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        row = keys.create(session, keyring, now=NOW)
        session.commit()
        assert row.wrapped is None and row.provider_label is not None
        published = keys.published(session, keyring, now=NOW)
        _, sign = keys.active(session, keyring, now=NOW)
    assert [k["kid"] for k in published] == [row.kid]
    # In the token: sensitive, never extractable, generated there.
    token = pkcs11.lib(str(softhsm.module)).get_token(token_label=softhsm.token)
    with token.open() as side:
        (private,) = side.get_objects(
            {
                Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                Attribute.LABEL: f"registry-signing-issuing-{row.provider_label}",
            }
        )
        assert private[Attribute.SENSITIVE] and not private[Attribute.EXTRACTABLE]
        assert private[Attribute.NEVER_EXTRACTABLE] and private[Attribute.LOCAL]
    # Both kinds of token the registry signs verify with the published key.
    status_list = jwt({"typ": "statuslist+jwt", "kid": row.kid}, {"sub": "https://registry.invalid/1"}, sign)
    assert _verifies(status_list, published)
    issued = SignedBy({"vct": "urn:test", SDObj("name"): "测试"}, sign, header={"typ": "dc+sd-jwt", "kid": row.kid})
    signed_part = issued.sd_jwt_issuance.split("~")[0]
    assert _verifies(signed_part, published)
    assert not _verifies(signed_part[:-4] + ("AAAA" if not signed_part.endswith("AAAA") else "BBBB"), published)


def test_a_row_that_is_not_the_tokens_key_is_neither_published_nor_used(keyring: Keyring, engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        real = keys.create(session, keyring, now=NOW)
        session.commit()
        other = keys.create(session, keyring, now=NOW)  # retires `real`
        session.commit()
        # Someone with the database swaps the labels: each row now names the other's key.
        real.provider_label, other.provider_label = other.provider_label, real.provider_label
        session.add_all([real, other])
        session.commit()
        keys._PROVEN.clear()
        assert keys.published(session, keyring, now=NOW) == []
        with pytest.raises(IntegrityFailure):
            keys.active(session, keyring, now=NOW)


def test_rotation_keeps_the_retired_token_key_published(keyring: Keyring, engine) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        first = keys.create(session, keyring, now=NOW)
        second = keys.create(session, keyring, now=NOW)
        session.commit()
        rows = {r.kid: r.status for r in session.exec(select(CredentialKey))}
        assert rows == {first.kid: keys.RETIRED, second.kid: keys.ACTIVE}
        assert {k["kid"] for k in keys.published(session, keyring, now=NOW)} == {first.kid, second.kid}
        # Nothing wrapped, so a KEK rotation has nothing of these to rewrap.
        assert keys.pending_rewraps(session, keyring) == 0
        keyring.provider.rotate_kek()
        assert keys.pending_rewraps(session, keyring) == 0


@pytest.mark.parametrize("label", ["bad label!", "", "é", "x" * 65])
def test_a_planted_row_with_an_impossible_label_is_left_out_not_a_500(keyring: Keyring, engine, label) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        real = keys.create(session, keyring, now=NOW)
        planted = CredentialKey(
            kid="é" + real.kid[1:],
            public_key=real.public_key,
            wrapped=None,
            provider_label=label,
            kek_version=1,
            status=keys.RETIRED,
            created_at=NOW,
        )
        session.add(planted)
        session.commit()
        assert [k["kid"] for k in keys.published(session, keyring, now=NOW)] == [real.kid]
