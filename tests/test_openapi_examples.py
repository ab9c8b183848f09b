"""The OpenAPI document a client builds on (issue 21): every schema has an example, every
request example is accepted by the model behind it, every operation says who may call it,
what it discloses and what it audits, and every error it documents is problem+json with an
example of its own."""

from __future__ import annotations

import jsonschema_rs
import pytest
from pydantic import TypeAdapter, ValidationError

from registry.access.policy import POLICY, Purpose
from registry.api.app import create_app
from registry.api.contract import PROBLEM_JSON, api_routes
from registry.api.deps import dependency_tree
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from registry.settings import Settings


@pytest.fixture(scope="module")
def app(tmp_path_factory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("openapi")
    settings = Settings(data_dir=base / "data", database_url=f"sqlite:///{base / 'r.db'}", profile="dev")
    initialise(settings, clock=FixedClock())
    runtime = open_runtime(settings, clock=FixedClock())
    yield create_app(runtime)
    runtime.engine.dispose()


def _validator(spec: dict, name: str):  # type: ignore[no-untyped-def,type-arg]
    root = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def test_every_schema_has_an_example_its_schema_accepts(app):
    spec = app.openapi()
    failures = []
    assert not [n for n in spec["components"]["schemas"] if "__" in n], "two models share a name"
    for name, schema in spec["components"]["schemas"].items():
        examples = schema.get("examples")
        if not examples:
            failures.append(f"{name}: no example")
            continue
        for error in _validator(spec, name).iter_errors(examples[0]):
            failures.append(f"{name}: {error.message[:120]} at {list(error.instance_path)}")
    assert not failures, "\n".join(failures)


def test_every_request_example_is_accepted_by_the_model_behind_it(app):
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    failures, checked = [], 0
    for route in api_routes(app):
        for dependant in dependency_tree(route.dependant):
            for param in dependant.body_params:
                annotation = param.field_info.annotation
                name = getattr(annotation, "__name__", None)
                if name not in schemas:
                    continue
                checked += 1
                try:
                    TypeAdapter(annotation).validate_python(schemas[name]["examples"][0])
                except ValidationError as refused:
                    failures.append(f"{route.path} {name}: {refused.errors()[0]['loc']} {refused.errors()[0]['msg']}")
    assert checked > 30 and not failures, "\n".join(sorted(set(failures)))


def test_every_operation_is_described_tagged_and_documents_its_problems(app):
    spec = app.openapi()
    tags = {t["name"] for t in spec["tags"]}
    ids = [op["operationId"] for ops in spec["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) and all(i.isidentifier() for i in ids), "operation ids name functions"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("tags") and set(op["tags"]) <= tags, where
            if not path.startswith("/api/v1"):
                continue
            assert "**Who may call it**" in op["description"] and "**Audit**" in op["description"], where
            errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
            assert {"400", "503"} <= set(errors), where
            for status, response in errors.items():
                body = response["content"][PROBLEM_JSON]
                assert body["schema"] == {"$ref": "#/components/schemas/Problem"}, (where, status)
                assert body["example"]["status"] == int(status) and body["example"]["type"].startswith("/problems/")


def test_x_purpose_lists_the_policy_tables_codes_and_who_may_declare_them(app):
    spec = app.openapi()
    op = spec["paths"]["/api/v1/persons/{person_id}"]["get"]
    (purpose,) = [p for p in op["parameters"] if p["name"] == "X-Purpose"]
    assert purpose["required"] and purpose["schema"] == {"$ref": "#/components/schemas/Purpose"}
    assert spec["components"]["schemas"]["Purpose"]["enum"] == [p.value for p in Purpose]
    for code in Purpose:
        line = next(x for x in purpose["description"].splitlines() if x.startswith(f"- `{code.value}`"))
        assert {r.value for r, p in POLICY.items() if code in p.purposes} == set(line.split("`")[3::2])
    assert "400" in purpose["description"] and "400" in op["responses"]
    # A role without personal data declares nothing: its operations take no purpose.
    assert not any(p["name"] == "X-Purpose" for p in spec["paths"]["/api/v1/keys"]["get"].get("parameters", []))


def test_the_personal_values_in_examples_are_the_generators(app):
    """A person's example carries the synthetic generator's values (seeded, so the document
    is the same on every start), never someone's."""
    spec = app.openapi()
    person = SyntheticPeople(2026).person()
    example = spec["components"]["schemas"]["PersonRead"]["examples"][0]
    assert (example["name"], example["id_number"], example["phone"]) == (person.name, person.id_number, person.phone)
    assert app.openapi() == spec
