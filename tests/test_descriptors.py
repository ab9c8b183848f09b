"""The descriptors are the one description of every sealed table: these tests fail when a
column of the metadata escapes them, so a new personal column cannot be left out of
rotation, erasure, retention or the leak scan (they all iterate `descriptors()`)."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

import registry.models
from registry.access.policy import Role
from registry.crypto.sealed import Visibility, descriptors

# Tables that hold no personal value or free text of a data subject, each with its reason.
# A new table must be described (sealed) or listed here: the test below names it otherwise.
NOT_PERSONAL = {
    "org_unit": "codes and names of the organisation's own units",
    "user_account": "staff accounts: usernames, roles, hashes (no data subject)",
    "audit_entry": "ids, field names, codes and tokens only (PRIVACY.md §2)",
    "audit_leaf": "hashes",
    "audit_node": "hashes",
    "audit_checkpoint": "signed notes over hashes",
    "idempotency_record": "digests of an account and a key, a keyed digest of the request, a status and a path",
    "audit_epoch": "signed restore statements: sizes, hashes, times, an account id and a reason code",
    "audit_review": "an auditor's outcome and follow-up codes, a document number (older reviews: a note)",
    "data_key": "wrapped keys",
    "index_root_key": "wrapped keys",
    "erasure": "an erased owner id, its compartment and when",
    "blind_index": "HMAC tokens",
    "crypto_config": "the suite",
    "dek_rotation": "rotation progress",
    "job": "job progress",
    "sweep_run": "a sweep's name, its day and its job id",
    "monthly_report": "a unit's aggregate counts, suppressed below 5, and who submitted them",
    "scheduler_lease": "which service process leads the scheduler, until when",
    "casefile_member": "account ids on a file's lists",
    "casefile_transfer": "unit codes, dates and account ids",
    "permit_endorsement": "dates",
    "person_transfer": "unit codes, dates, account ids and a coded refusal reason",
    "casefile_closure": "a pending closure's states, dates and account ids",
    "account_approval": "a staff account change awaiting a second administrator (no data subject)",
    "credential_key": "the credential issuing keys: public keys, and private keys wrapped by the KEK",
    "permit_credential": "an issued credential's status place, its permit id, key id and dates",
    "credential_status_list": "the signed status list: two bits per place, naming no one",
}
# Key material and hashes are binary too, but no descriptor's business.
BINARY_NOT_SEALED = {
    ("audit_leaf", "leaf_hash"),
    ("audit_node", "hash"),
    ("audit_checkpoint", "root_hash"),
    ("data_key", "wrapped"),
    ("index_root_key", "wrapped"),
    ("blind_index", "token"),
    ("user_account", "totp_secret_wrapped"),  # wrapped by the KEK like a data key
    ("user_account", "security_seal"),  # an HMAC over the account's security columns (accounts.seal)
    ("monthly_report", "content_hash"),  # the SHA-256 of a report's aggregate counts, which its note signs
    ("account_approval", "security_seal"),  # an HMAC over a dual-control request (accounts.seal)
    ("credential_key", "public_key"),  # an Ed25519 public key, published
    ("credential_key", "wrapped"),  # wrapped by the KEK like a data key
    ("credential_status_list", "statuses"),  # two bits per status place, as published
}


def _described():
    return {d.name: d for d in descriptors()}


def test_every_binary_column_belongs_to_exactly_one_descriptor():
    owners = Counter((d.name, f.column) for d in descriptors() for f in d.fields)
    assert max(owners.values()) == 1
    for table in registry.models.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, sa.LargeBinary) and (table.name, column.name) not in BINARY_NOT_SEALED:
                assert owners[(table.name, column.name)] == 1, f"{table.name}.{column.name} is sealed by no descriptor"


def test_every_column_of_a_described_table_is_sealed_or_declared_plain():
    for d in descriptors():
        sealed = {f.column for f in d.fields}
        columns = set(d.table.c.keys())
        assert not sealed & d.plain, d.name
        assert sealed | d.plain == columns, f"{d.name}: undeclared {sorted(columns - sealed - d.plain)}"
        assert not (sealed | d.plain) - columns, f"{d.name}: declares columns it does not have"


def test_every_table_is_described_or_declared_not_personal():
    described = _described()
    for name in registry.models.metadata.tables:
        assert name in described or name in NOT_PERSONAL, f"{name}: describe it or say why it is not personal"
    assert not set(described) & set(NOT_PERSONAL)


def test_text_columns_of_described_tables_are_codes_not_free_text():
    """A plain text column of an owned table is a short code, an id or a date; free text
    (the permit reasons that once leaked) must be sealed."""
    for d in descriptors():
        for name in d.plain:
            column = d.table.c[name]
            if isinstance(column.type, sa.String) and not isinstance(column.type, sa.Uuid):
                assert column.type.length is not None and column.type.length <= 32, f"{d.name}.{name}"
            assert not isinstance(column.type, sa.JSON), f"{d.name}.{name}: JSON in the clear"


def test_the_sealed_tables_and_their_owners():
    """A literal snapshot: which tables are sealed, under whose key, and what they index."""
    snapshot = {
        d.name: (d.compartment.value, d.owner_column or f"via {d.parent}", d.columns, tuple(i.field for i in d.indexes))
        for d in descriptors()
    }
    assert snapshot == {
        "person": (
            "identity",
            "id",
            ("name", "id_number", "sex", "birth_date", "phone", "hukou_address"),
            ("id_number", "phone", "name_birth"),
        ),
        "dwelling": ("residence", "id", ("address",), ("address",)),
        "employer": ("residence", "id", ("name", "uscc", "address", "contact_name", "contact_phone"), ("uscc",)),
        "residence_registration": ("residence", "person_id", ("employer_name", "employer_uscc"), ()),
        "residence_permit": (
            "residence",
            "person_id",
            ("permit_no", "materials_missing", "decision_reason"),
            ("permit_no",),
        ),
        "casefile": ("casefile", "person_id", ("details",), ()),
        "casefile_event": ("casefile", "via ('casefile_id', 'casefile')", ("body",), ()),
        "break_glass_grant": ("casefile", "via ('casefile_id', 'casefile')", ("justification",), ()),
        "leave_request": (
            "casefile",
            "via ('casefile_id', 'casefile')",
            ("destination", "reason", "decision_note"),
            (),
        ),
        "notice_receipt": ("casefile", "via ('casefile_id', 'casefile')", ("document_no",), ("document_no",)),
    }


PERSON_FIELDS = ("name", "id_number", "sex", "birth_date", "phone", "hukou_address")


def test_who_sees_which_field():
    """A literal, hand-written snapshot of PRIVACY.md §3's masking, per table and field."""
    F, M = Visibility.FULL, Visibility.MASKED
    residence = {Role.POLICE: F, Role.CIVIL_AFFAIRS: F}
    casefile = {Role.CORRECTIONS: F, Role.CIVIL_AFFAIRS: F, Role.POLICE: F, Role.SOCIAL_WORKER: F}
    expected = {
        ("person", "name"): residence | {Role.CORRECTIONS: F},
        ("person", "id_number"): residence | {Role.CORRECTIONS: M},  # full to a file's holder (below)
        ("person", "sex"): residence | {Role.CORRECTIONS: F},
        ("person", "birth_date"): residence | {Role.CORRECTIONS: F},
        ("person", "phone"): residence | {Role.CORRECTIONS: F},
        ("person", "hukou_address"): residence | {Role.CORRECTIONS: F},
        ("dwelling", "address"): residence,
        **{("employer", f): residence for f in ("name", "uscc", "address", "contact_name", "contact_phone")},
        ("residence_registration", "employer_name"): residence,
        ("residence_registration", "employer_uscc"): residence,
        ("residence_permit", "permit_no"): residence,
        ("residence_permit", "materials_missing"): residence,
        ("residence_permit", "decision_reason"): residence,
        ("casefile", "details"): casefile,
        ("casefile_event", "body"): casefile,
        ("break_glass_grant", "justification"): {},
        ("leave_request", "destination"): casefile,
        ("leave_request", "reason"): casefile,
        ("leave_request", "decision_note"): casefile,
        ("notice_receipt", "document_no"): {},  # a notice's number: it finds the receipt, no role reads it
    }
    actual = {(d.name, f.name): dict(f.visibility) for d in descriptors() for f in d.fields}
    assert actual == expected
    # Holding a casefile of the person (casefiles.access.held_file_of) gives corrections the
    # identity intake verifies (社区矫正法 Art. 22, 26; issue 14), never the person (issue 13).
    holder = {(d.name, f.name): dict(f.holder) for d in descriptors() for f in d.fields if f.holder}
    assert holder == {("person", name): {Role.CORRECTIONS: F} for name in PERSON_FIELDS}
    # No role without personal data appears anywhere.
    for visibility in actual.values():
        assert not {Role.VERIFIER, Role.AUDITOR, Role.SECURITY_ADMIN, Role.ADMIN} & set(visibility)
    details = _described()["casefile"].field("details")
    assert set(details.withheld_keys) == {Role.SOCIAL_WORKER}
