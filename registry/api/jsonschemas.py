"""JSON Schemas of the public record formats, generated from the API models into `schemas/`.

    .venv/bin/python -m registry.api.jsonschemas     # rewrite schemas/*.json
A test fails when the files are stale, so a model change cannot silently change the format.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from registry.casefiles.details import details_model
from registry.casefiles.events_catalogue import json_schemas
from registry.casefiles.notices.formats import FORMATS
from registry.casefiles.workflows.common import Kind
from registry.people.schemas import PersonCreate, PersonRead
from registry.residence.schemas import (
    DwellingCreate,
    DwellingRead,
    DwellingUpdate,
    PermitCreate,
    PermitRead,
    RegistrationCreate,
    RegistrationRead,
)

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
RECORDS: dict[str, tuple[type[BaseModel], type[BaseModel]]] = {
    "person": (PersonCreate, PersonRead),
    "dwelling": (DwellingCreate, DwellingRead),
    "registration": (RegistrationCreate, RegistrationRead),
    "permit": (PermitCreate, PermitRead),
}

# Records that change by PATCH: the body's form (only the fields sent change).
UPDATES: dict[str, type[BaseModel]] = {"dwelling": DwellingUpdate}


# The kind-specific `details` of a casefile, validated against these on create.
DETAILS = {f"casefile.{kind}.details": details_model(kind) for kind in Kind}

# A row of `registry import notices --kind <kind>` (NDJSON; a CSV row has the same columns).
NOTICES = {f"notice.{kind}": form.row for kind, form in FORMATS.items()}


def render() -> dict[str, str]:
    """File name → JSON text, for every record's create and read form."""
    files = {}
    for record, (create, read) in RECORDS.items():
        for form, model in (("create", create), ("read", read)):
            schema = model.model_json_schema(mode="validation" if form == "create" else "serialization")
            schema = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": f"https://registry.invalid/schemas/{record}.{form}.json",
                **schema,
            }
            files[f"{record}.{form}.json"] = _dump(schema)
    for record, model in UPDATES.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://registry.invalid/schemas/{record}.update.json",
            **model.model_json_schema(mode="validation"),
        }
        files[f"{record}.update.json"] = _dump(schema)
    # The event catalogue: one schema per event type of each kind (issue 14).
    for name, body in json_schemas().items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://registry.invalid/schemas/{name}.json",
            **body,
        }
        files[f"{name}.json"] = _dump(schema)
    for name, model in {**DETAILS, **NOTICES}.items():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://registry.invalid/schemas/{name}.json",
            **model.model_json_schema(mode="validation"),
        }
        files[f"{name}.json"] = _dump(schema)
    return files


def _dump(schema: dict) -> str:  # type: ignore[type-arg]
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write(directory: Path = SCHEMAS_DIR) -> None:
    directory.mkdir(exist_ok=True)
    for name, text in render().items():
        (directory / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write()
