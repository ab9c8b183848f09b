"""The JSON Schemas in schemas/ are generated from the models; stale files fail here."""

from __future__ import annotations

from registry.api.jsonschemas import SCHEMAS_DIR, render


def test_schema_files_are_current():
    expected = render()
    present = {p.name for p in SCHEMAS_DIR.glob("*.json") if "." in p.stem}
    assert set(expected) <= present, "missing schema files: run python -m registry.api.jsonschemas"
    stale = [name for name, text in expected.items() if (SCHEMAS_DIR / name).read_text(encoding="utf-8") != text]
    assert not stale, f"stale schema files {stale}: run python -m registry.api.jsonschemas"
