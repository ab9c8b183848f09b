"""Examples for the OpenAPI document: every schema without one of its own gets one built
from its JSON Schema, with personal values from the synthetic generator (never a real
person's) and the example codes of the design. tests/test_openapi_examples.py checks
that each request example is accepted by the model behind it, so a client that copies an
example sends what the service takes."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from registry.people.synthetic import SyntheticPeople

_PERSON = SyntheticPeople(2026).person()
_PEOPLE = SyntheticPeople(2027)
UUID = "6f1c1a52-2d0e-4f43-9d57-0a4f3a3c0b11"
TODAY = date(2026, 3, 2)

# Values by property name: personal ones from the generator, codes as in the design.
_BY_NAME: dict[str, Any] = {
    "id_number": _PERSON.id_number,
    "name": _PERSON.name,
    "phone": _PERSON.phone,
    "hukou_address": _PERSON.hukou_address,
    "address": _PEOPLE.address(),
    "landlord_name": _PEOPLE.person().name,
    "landlord_phone": _PEOPLE.person().phone,
    "employer": _PEOPLE.company_name(),
    "employer_name": _PEOPLE.company_name(),
    "uscc": _PEOPLE.uscc(),
    "employer_uscc": _PEOPLE.uscc(),
    "contact_name": _PEOPLE.person().name,
    "contact_phone": _PEOPLE.person().phone,
    "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJleGFtcGxlIn0.c2lnbmF0dXJl",
    "token_type": "bearer",
    "expires_in": 900,
    "birth_date": _PERSON.birth_date.isoformat(),
    "sex": _PERSON.sex,
    "org_unit": "320571",
    "parent": "320500",
    "code": "320571001",
    "username": "police.a",
    "display_name": "派出所民警甲",
    "period": "2026-02",
    "month": "2026-02",
    "reference": "SJ-2026/014",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初5号",
    "request_id": "3f1c0b6a9d2e4c8b8f7a6e5d4c3b2a19",
    "next_cursor": None,
}
# Values by pattern, for constrained strings the name does not settle.
_BY_PATTERN: dict[str, str] = {
    r"^[0-9]{6}([0-9]{3}){0,3}$": "320571",
    r"^[0-9]{9}$": "320571001",
    r"^[0-9]{6}$": "123456",
    r"^[0-9]{4}-(0[1-9]|1[0-2])$": "2026-02",
    r"^[a-z][a-z0-9._-]{2,63}$": "police.a",
    r"^[A-Za-z0-9][A-Za-z0-9./-]{0,63}$": "SJ-2026/014",
    r"^[a-z_]{2,32}$": "registration",
    r"^[a-z_:]+$": "person:read",
    r"^[a-z_][a-z0-9_]{0,62}$": "name",
    r"^[^\s+]+$": "2026-02",
}


def add_examples(schemas: dict[str, Any]) -> None:
    """Give every component schema without examples one built from its shape."""
    for schema in schemas.values():
        if "examples" not in schema and "example" not in schema:
            schema["examples"] = [example_of(schema, schemas)]


def example_of(schema: dict[str, Any], schemas: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    if "$ref" in schema:
        target = schemas[schema["$ref"].rsplit("/", 1)[1]]
        if target.get("examples"):
            return target["examples"][0]
        return example_of(target, schemas, name, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_of(options[0], schemas, name, depth + 1)
    if "allOf" in schema:
        return example_of(schema["allOf"][0], schemas, name, depth + 1)
    if name in _BY_NAME and _fits(schema, _BY_NAME[name]):
        return _BY_NAME[name]
    kind = schema.get("type", "object")
    if kind == "object":
        if depth > 6:
            return {}
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return {
            key: example_of(sub, schemas, key, depth + 1) for key, sub in props.items() if key in required or depth == 0
        }
    if kind == "array":
        items = schema.get("items", {})
        count = max(1, schema.get("minItems", 1))
        return [example_of(items, schemas, name.rstrip("s"), depth + 1) for _ in range(count)]
    if kind == "string":
        return _string(schema, name)
    if kind == "integer":
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return None


def _string(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format")
    if fmt == "uuid" or name == "id" or name.endswith("_id"):
        return UUID
    if fmt == "date" or name.endswith("_on") or name.endswith("_date"):
        return TODAY.isoformat()
    if fmt == "date-time" or name.endswith("_at"):
        return f"{TODAY.isoformat()}T08:30:00Z"
    pattern = schema.get("pattern")
    if pattern is not None:
        return _BY_PATTERN.get(pattern, "")
    if name.endswith("reason") or name in ("note", "notes", "summary", "detail"):
        value = "按规定办理"
    else:
        value = "示例"
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    value = value * max(1, -(-low // len(value)))
    return value[: int(high)] if high else value


def _fits(schema: dict[str, Any], value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        kind = schema.get("type")
        if kind not in (None, "string"):
            return False
        pattern = schema.get("pattern")
        return pattern is None or re.fullmatch(pattern, value) is not None
    return True
