"""The document catalogue is the one description of every paper: the routes, the OpenAPI
entries and the README read it, and what each kind reads exists in the records."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry.casefiles.details import details_model
from registry.casefiles.models import CASEFILE, LEAVE_REQUEST
from registry.documents.catalogue import KINDS, Source
from registry.documents.paper import Imprint, Paper
from registry.documents.pdf import render
from registry.errors import Unavailable
from registry.people.models import PERSON
from registry.residence.models import PERMIT

ROOT = Path(__file__).resolve().parents[2]
RECORD = {Source.PERMIT: PERMIT, Source.LEAVE: LEAVE_REQUEST, Source.CASEFILE: CASEFILE}


def test_every_kind_has_one_pdf_route_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    printed = {p: ops["get"] for p, ops in paths.items() if "/documents/" in p}
    assert len(printed) == len(KINDS)
    for kind in KINDS:
        (path,) = [p for p in printed if p.endswith(f"/documents/{kind.code}")]
        op = printed[path]
        assert "application/pdf" in op["responses"]["200"]["content"], path
        assert {"403", "404"} <= set(op["responses"]), path
        assert op["tags"] == ["documents"] and op["description"] and op["summary"] == kind.title
        purpose = [p for p in op.get("parameters", []) if p["name"].lower() == "x-purpose"]
        assert bool(purpose) == (kind.source is not Source.ACCESSES), path  # a disclosure declares its purpose


def test_the_readme_lists_every_kind():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Printed documents") :]
    for kind in KINDS:
        assert re.search(rf"/documents/{re.escape(kind.code)}\b", table), kind.code


def test_what_each_kind_reads_exists_in_its_records():
    for kind in KINDS:
        for name in kind.person:
            PERSON.field(name)
        for path in kind.record:
            if path.startswith("details."):
                assert kind.casefile_kind is not None, kind.code
                assert path.removeprefix("details.") in details_model(kind.casefile_kind).model_fields, path
            else:
                RECORD[kind.source].field(path)


def test_no_paper_carries_what_the_registry_never_stores():
    """Hard scope limits: no ethnicity, religion, belief, political opinion or petition, no
    location tracking or risk scoring, on any paper (DOMAIN.md)."""
    text = (ROOT / "registry/documents/catalogue.py").read_text()
    for word in ("民族", "宗教", "信仰", "政治面貌", "信访", "轨迹", "定位", "风险"):
        assert word not in text, word


def test_a_missing_font_is_a_503_never_a_paper_without_its_text(tmp_path):
    imprint = Imprint(uuid.uuid4(), "x", "someone", "unit", datetime(2026, 1, 5, tzinfo=UTC))
    with pytest.raises(Unavailable):
        render(Paper("标题", "依据", ()), imprint, font=tmp_path / "absent.ttc")
