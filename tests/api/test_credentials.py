"""The permit in the holder's hand (issue 17): an SD-JWT VC checked by an independent
implementation of the format (the npm `@sd-jwt` packages on the machine's Node.js, never
the issuing library), with only the published keys and status list: valid as issued and
as the holder chose to present it; refused when tampered, expired, revoked (the permit
cancelled) or suspended (its anniversary passed unendorsed). The signed part carries no
personal value in clear, and the QR decodes with a standard decoder (zbarimg)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import textwrap
import zlib
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlmodel import Session, select
from typer.testing import CliRunner

from registry.audit.models import AuditEntry
from registry.cli import app as cli_app
from registry.credentials import keys
from registry.credentials.models import CredentialKey
from registry.credentials.verify import verify as verify_offline
from registry.maintenance import RotationTarget, rotation_work
from registry.people.synthetic import SyntheticPeople
from registry.sweeps import SWEEPS
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}
V1 = "/api/v1"
NPM_PACKAGES = ("@sd-jwt/sd-jwt-vc@0.19.0", "@sd-jwt/crypto-nodejs@0.19.0")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "registry-tests" / "sd-jwt-0.19.0"

VERIFY = textwrap.dedent(
    """
    import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc';
    import { digest } from '@sd-jwt/crypto-nodejs';
    import { createPublicKey, verify } from 'node:crypto';
    import fs from 'node:fs';
    const [material, at] = [JSON.parse(fs.readFileSync(process.argv[2])), Number(process.argv[3])];
    const keys = Object.fromEntries(material.jwks.keys.map((k) => [k.kid, createPublicKey({ key: k, format: 'jwk' })]));
    const verifier = async (data, sig) => {
      const kid = JSON.parse(Buffer.from(data.split('.')[0], 'base64url')).kid;
      return kid in keys && verify(null, Buffer.from(data), keys[kid], Buffer.from(sig, 'base64url'));
    };
    const sdjwt = new SDJwtVcInstance({
      verifier, hasher: digest, hashAlg: 'sha-256', statusListFetcher: async () => material.status_list,
    });
    try {
      const { payload } = await sdjwt.verify(material.credential, { currentDate: at });
      console.log(JSON.stringify({ ok: true, payload }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, error: String(e.message) }));
    }
    """
)


@pytest.fixture(scope="module")
def node_verifier(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    if not (CACHE / "ok").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / "package.json").write_text('{"name": "verifier", "private": true, "type": "module"}')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES],
            cwd=CACHE,
            check=True,
            capture_output=True,
            timeout=600,
        )
        (CACHE / "ok").write_text(" ".join(NPM_PACKAGES))
    script = CACHE / "verify.mjs"
    script.write_text(VERIFY)
    return script


def _check(script: Path, tmp_path: Path, credential: str, client, at: date | None = None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """What the independent verifier says, with only the published keys and status list."""
    material = {
        "credential": credential,
        "jwks": client.get("/.well-known/jwt-vc-issuer").json()["jwks"],
        "status_list": client.get("/credentials/status-lists/1").text,
    }
    path = tmp_path / "material.json"
    path.write_text(json.dumps(material))
    when = int(datetime.combine(at or date(2026, 1, 5), time(9), tzinfo=UTC).timestamp())
    run = subprocess.run(["node", str(script), str(path), str(when)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture
def permit(client, bootstrap):  # type: ignore[no-untyped-def]
    admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    create_user(client, admin, "police.a", ["police"], "320571")
    police = as_user(client, "police.a", STRONG_PASSWORD) | REG
    person = SyntheticPeople(1717).person()
    body = {"id_number": person.id_number, "name": person.name}
    pid = client.post(f"{V1}/persons", json=body, headers=police).json()["id"]
    home = client.post(
        f"{V1}/dwellings", json={"org_unit": "320571001", "address": "甲街1号", "kind": "owned"}, headers=police
    ).json()["id"]
    reg = {"person_id": pid, "dwelling_id": home, "arrived_on": "2025-06-01", "registered_on": "2025-06-01"}
    registration = client.post(f"{V1}/residence-registrations", json=reg | {"basis": "family"}, headers=police).json()
    applied = client.post(
        f"{V1}/residence-permits",
        json={"person_id": pid, "registration_id": registration["id"], "basis": "residence"},
        headers=police,
    ).json()
    path = f"{V1}/residence-permits/{applied['id']}"
    assert client.post(f"{path}/accept", headers=police).status_code == 200
    issued = client.post(f"{path}/issue", headers=police)
    assert issued.status_code == 200, issued.text
    return {"path": path, "police": police, "person": person, "person_id": pid, "permit": issued.json()}


def _payload(sd_jwt: str) -> dict:  # type: ignore[type-arg]
    signed = sd_jwt.split("~")[0].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(signed + "=" * (-len(signed) % 4)))


def test_the_signed_part_holds_no_personal_value_and_the_holder_chooses_what_shows(client, runtime, permit):
    made = client.post(
        f"{permit['path']}/credentials", json={"disclose": ["resident_since_year"]}, headers=permit["police"]
    )
    assert made.status_code == 201, made.text
    issued, person = made.json(), permit["person"]
    signed = issued["credential"].split("~")[0]
    for value in (person.name, person.id_number, permit["permit"]["permit_no"]):
        assert value not in json.dumps(_payload(signed), ensure_ascii=False) and value not in signed
    claims = _payload(signed)
    assert claims["vct"] == "urn:registry:residence-permit:1" and claims["region"] == "320500"
    assert claims["status"]["status_list"]["idx"] == issued["status_index"]
    assert len(issued["credential"].split("~")) - 2 == 4  # every disclosure in the holder's copy
    assert len(issued["presentation"].split("~")) - 2 == 1  # the QR: only what was chosen
    # Nothing in the QR derived from the ID number either (a salted hash of it is searchable).
    assert all(len(base64.urlsafe_b64decode(d + "==")) < 80 for d in issued["presentation"].split("~")[1:-1])
    assert "resident_since_year" in base64.urlsafe_b64decode(issued["presentation"].split("~")[1] + "==").decode()
    with runtime.engine.connect() as conn:
        entries = conn.execute(sa.select(AuditEntry.targets).where(AuditEntry.action == "credential:issue")).all()
    assert entries and all(permit["person_id"] in e.targets for e in entries)


def test_an_independent_verifier_accepts_it_and_refuses_tampered_expired_and_revoked(
    client, clock, permit, node_verifier, tmp_path
):
    made = client.post(
        f"{permit['path']}/credentials", json={"disclose": ["id_number"]}, headers=permit["police"]
    ).json()
    shown = _check(node_verifier, tmp_path, made["presentation"], client)
    assert shown["ok"], shown
    assert shown["payload"]["id_number"] == permit["person"].id_number and "name" not in shown["payload"]
    full = _check(node_verifier, tmp_path, made["credential"], client)
    assert full["ok"] and full["payload"]["name"] == permit["person"].name

    head, body, sig = made["presentation"].split("~")[0].split(".")
    claims = _payload(made["presentation"]) | {"region": "110100"}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = made["presentation"].replace(f"{head}.{body}.", f"{head}.{forged}.", 1)
    assert not _check(node_verifier, tmp_path, tampered, client)["ok"]
    assert not _check(node_verifier, tmp_path, made["presentation"], client, at=date(2027, 7, 1))["ok"]  # expired

    cancelled = client.post(f"{permit['path']}/cancel", json={"reason": "测试注销"}, headers=permit["police"])
    assert cancelled.status_code == 200, cancelled.text
    revoked = _check(node_verifier, tmp_path, made["presentation"], client)
    assert not revoked["ok"] and "Status is not valid" in revoked["error"], revoked


def test_a_missed_anniversary_suspends_it_by_the_daily_sweep(client, runtime, clock, permit, node_verifier, tmp_path):
    made = client.post(f"{permit['path']}/credentials", json={}, headers=permit["police"]).json()
    assert _check(node_verifier, tmp_path, made["presentation"], client)["ok"]
    clock.advance(days=370)  # past the first anniversary, unendorsed
    sweep = next(s for s in SWEEPS if s.name == "credential_status")
    trail = None
    assert sweep.work(runtime, trail, clock.now().date())(lambda done, total: None) == 1  # type: ignore[arg-type]
    list_token = client.get("/credentials/status-lists/1").text
    lst = _payload(list_token)["status_list"]
    packed = zlib.decompress(base64.urlsafe_b64decode(lst["lst"] + "=" * (-len(lst["lst"]) % 4)))
    assert (packed[made["status_index"] // 4] >> (2 * (made["status_index"] % 4))) & 3 == 2  # suspended


def test_the_qr_decodes_with_a_standard_decoder_to_the_presentation(client, permit, tmp_path):
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbar-tools is installed by scripts/system-deps"
    made = client.post(
        f"{permit['path']}/credentials", json={"disclose": ["resident_since_year"]}, headers=permit["police"]
    ).json()
    image = tmp_path / "qr.png"
    image.write_bytes(base64.b64decode(made["qr_png"]))  # what the service prints, as it printed it
    decoded = subprocess.run([zbarimg, "--raw", "-q", str(image)], capture_output=True, text=True, timeout=60)
    assert decoded.stdout.strip() == made["presentation"]


def test_only_a_permit_in_force_is_carried(client, permit):
    cancelled = client.post(f"{permit['path']}/cancel", json={"reason": "测试注销"}, headers=permit["police"])
    assert cancelled.status_code == 200
    refused = client.post(f"{permit['path']}/credentials", json={}, headers=permit["police"])
    assert refused.status_code == 409 and "in force" in refused.json()["detail"]


def test_the_offline_cli_verifies_with_saved_keys_and_list_only(client, permit, tmp_path):
    """`registry credential verify`: what a partner runs with copies of the two public
    files; it never opens a database (no settings, no data directory)."""
    made = client.post(
        f"{permit['path']}/credentials", json={"disclose": ["resident_since_year"]}, headers=permit["police"]
    ).json()
    (tmp_path / "meta.json").write_text(client.get("/.well-known/jwt-vc-issuer").text)
    (tmp_path / "status.jwt").write_text(client.get("/credentials/status-lists/1").text)
    runner = CliRunner()

    def check(presentation: str, *more: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        (tmp_path / "qr.txt").write_text(presentation)
        args = ["credential", "verify", str(tmp_path / "qr.txt"), "--issuer-metadata", str(tmp_path / "meta.json")]
        args += ["--status-list", str(tmp_path / "status.jwt"), "--at", "2026-01-05T10:00:00"]
        result = runner.invoke(cli_app, [*args, *more])
        return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])

    code, said = check(made["presentation"])
    assert code == 0 and said["valid"] and said["claims"]["resident_since_year"] == 2025, said
    assert set(said["claims"]) & {"name", "id_number", "permit_no", "id_binding"} == set()
    assert permit["person"].id_number not in json.dumps(said)
    # Checked against a card, a QR that does not show the number binds to none; one that shows it, to its own.
    code, said = check(made["presentation"], "--id-number", permit["person"].id_number)
    assert code == 1 and said["reason"] == "the credential is not bound to this identity card"
    bound = client.post(
        f"{permit['path']}/credentials", json={"disclose": ["id_number"]}, headers=permit["police"]
    ).json()
    (tmp_path / "status.jwt").write_text(client.get("/credentials/status-lists/1").text)
    code, said = check(bound["presentation"], "--id-number", permit["person"].id_number.lower())
    assert code == 0 and said["valid"], said
    code, said = check(bound["presentation"], "--id-number", SyntheticPeople(99).person().id_number)
    assert code == 1 and said["reason"] == "the credential is not bound to this identity card"
    disclosure = made["presentation"].split("~")[1]
    code, said = check(made["presentation"].replace(disclosure, disclosure[:-2] + "AA"))
    assert code == 1 and not said["valid"]
    client.post(f"{permit['path']}/cancel", json={"reason": "测试注销"}, headers=permit["police"])
    (tmp_path / "status.jwt").write_text(client.get("/credentials/status-lists/1").text)
    code, said = check(made["presentation"])
    assert code == 1 and said["reason"] == "revoked"


def test_kek_rotation_rewraps_the_issuing_key_and_rotation_keeps_old_keys_published(client, runtime, permit):
    made = client.post(f"{permit['path']}/credentials", json={}, headers=permit["police"]).json()
    rotation_work(runtime, RotationTarget.KEK)(lambda done, total: None)
    with Session(runtime.engine) as session:
        (row,) = session.exec(select(CredentialKey)).all()
        assert row.kek_version == runtime.keyring.provider.kek_version and row.kid == made["kid"]
    rotation_work(runtime, RotationTarget.CREDENTIAL)(lambda done, total: None)  # `keys rotate --target credential`
    with Session(runtime.engine) as session:
        statuses = sorted(k.status for k in session.exec(select(CredentialKey)))
    assert statuses == [keys.ACTIVE, keys.RETIRED]
    again = client.post(f"{permit['path']}/credentials", json={}, headers=permit["police"]).json()
    published = {k["kid"] for k in client.get("/.well-known/jwt-vc-issuer").json()["jwks"]["keys"]}
    assert again["kid"] != made["kid"] and {made["kid"], again["kid"]} <= published


RUN_PAGE = textwrap.dedent(
    """
    import fs from 'node:fs';
    const { verifyPresentation } = await import(process.argv[2]);
    const m = JSON.parse(fs.readFileSync(process.argv[3]));
    console.log(JSON.stringify(await verifyPresentation(m.credential, m.metadata, m.status_list, m.now)));
    """
)


def test_the_browser_page_verifies_with_webcrypto_only(client, permit, tmp_path):
    """The page's module (as served, under a CSP without inline script) run on Node's
    WebCrypto and DecompressionStream: the same code a browser runs."""
    page = client.get("/verify")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    module = tmp_path / "verify.mjs"
    module.write_text(client.get("/verify/verify.js").text)
    assert client.get("/verify/other.js").status_code == 404
    made = client.post(
        f"{permit['path']}/credentials", json={"disclose": ["resident_since_year"]}, headers=permit["police"]
    ).json()
    runner = tmp_path / "run.mjs"
    runner.write_text(RUN_PAGE)

    def check(presentation: str) -> dict:  # type: ignore[type-arg]
        material = {
            "credential": presentation,
            "metadata": client.get("/.well-known/jwt-vc-issuer").json(),
            "status_list": client.get("/credentials/status-lists/1").text,
            "now": int(datetime(2026, 1, 5, 9, tzinfo=UTC).timestamp()),
        }
        (tmp_path / "m.json").write_text(json.dumps(material))
        run = subprocess.run(
            ["node", str(runner), str(module), str(tmp_path / "m.json")], capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    shown = check(made["presentation"])
    assert shown["valid"] and shown["claims"]["resident_since_year"] == 2025 and "name" not in shown["claims"]
    disclosure = made["presentation"].split("~")[1]
    assert check(made["presentation"].replace(disclosure, disclosure[:-2] + "AA"))["reason"] == "disclosure"
    client.post(f"{permit['path']}/cancel", json={"reason": "测试注销"}, headers=permit["police"])
    assert check(made["presentation"]) == {**shown, "valid": False, "reason": "revoked"}


def test_a_key_planted_in_the_table_is_never_published(client, runtime, permit):
    """Write access to the database is not the KEK: a row with the writer's own public key
    does not unwrap with its key bound in, so it is left out of the published keys (and an
    interrupted KEK rotation is finished by the daily sweep, credential keys included)."""
    client.post(f"{permit['path']}/credentials", json={}, headers=permit["police"])
    mine = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    with Session(runtime.engine) as session:
        planted = CredentialKey(
            kid=keys.thumbprint(mine),
            public_key=mine,
            wrapped=b"not wrapped by the provider",
            kek_version=10**9,
            status="retired",
            created_at=runtime.clock.now(),
            retired_at=runtime.clock.now(),
        )
        session.add(planted)
        session.commit()
    published = {k["kid"] for k in client.get("/.well-known/jwt-vc-issuer").json()["jwks"]["keys"]}
    assert keys.thumbprint(mine) not in published and len(published) == 1


def test_a_stale_status_list_is_refused(client, permit, tmp_path):
    made = client.post(f"{permit['path']}/credentials", json={}, headers=permit["police"]).json()
    metadata = client.get("/.well-known/jwt-vc-issuer").json()
    listed = client.get("/credentials/status-lists/1").text
    now = datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert verify_offline(made["presentation"], metadata=metadata, status_list=listed, at=now).ok
    later = datetime(2026, 1, 9, 10, tzinfo=UTC)  # the list lives three days; a saved copy goes stale
    stale = verify_offline(made["presentation"], metadata=metadata, status_list=listed, at=later)
    assert not stale.ok and "expired" in stale.reason
