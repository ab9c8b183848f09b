"""The OpenAPI contract, derived from what each route is: its gate (the permissions any one
of which lets a role call it, `may`), read against the policy table, and what the route
takes (a token, a purpose, a path id, a body, `If-Match`). Every status an operation can
answer is listed from those facts with the problem+json schema and an example, so a client
generated from `/openapi.json` knows each answer, and the roles and purposes in the
document are the policy table's, not a copy of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from registry.access.policy import POLICY, Permission, Purpose, Role
from registry.api.deps import dependency_tree as _tree
from registry.api.examples import add_examples
from registry.api.pagination import IF_MATCH_PATTERN
from registry.api.problems import BY_STATUS, TYPES
from registry.casefiles.access import KIND_PERMISSION

PERMISSIONS_KEY = "x-permissions"
PROBLEM_JSON = "application/problem+json"
API = "/api/v1"


def may(*permissions: Permission) -> dict[str, Any]:
    """A route's gate for its OpenAPI entry (`openapi_extra=may(...)`): a role holding any of
    `permissions` may call it; none named: any signed-in account. The services check the
    permission; the access matrix test fails when a role outside the gate is let in."""
    return {PERMISSIONS_KEY: sorted(p.value for p in permissions)}


def casefile_gate(*, assigned: bool) -> dict[str, Any]:
    """The casefile kinds' permissions (a file's own kind decides, else the same 404), and
    with `assigned`, the social worker's permission to the files assigned to them."""
    extra = (Permission.CASEFILE_ASSIGNED,) if assigned else ()
    return may(*KIND_PERMISSION.values(), *extra)


def roles_holding(permissions: Iterable[str]) -> list[Role]:
    wanted = set(permissions)
    if not wanted:
        return list(Role)
    return [role for role, policy in POLICY.items() if wanted & {p.value for p in policy.permissions}]


class ProblemField(BaseModel):
    loc: list[str | int] = Field(description="Where the value is: `body`, `query`, `path` or `header`, then its name.")
    msg: str = Field(description="What is wrong with it; never the value itself.")


class Problem(BaseModel):
    """An RFC 9457 problem: every 4xx and 5xx answer of the API."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no such record in your reach",
                    "request_id": "3f1c0b6a9d2e4c8b8f7a6e5d4c3b2a19",
                }
            ]
        },
    )

    type: str = Field(description="A page of the service explaining the problem and what to do (`GET` it).")
    title: str
    status: int
    detail: str = Field(description="What was refused and, for a rule, the rule and its article.")
    request_id: str | None = Field(
        default=None, description="The server's id of the request, the same as the `X-Request-ID` header: quote it."
    )
    errors: list[ProblemField] | None = Field(default=None, description="For invalid input: each field and its rule.")


# Why each status happens, as the operation's response description says it.
_WHY = {
    400: "Malformed JSON or query value, a NUL character, or a missing or undeclarable `X-Purpose`.",
    401: "No valid bearer token (none, expired, or ended by a disable, re-role or password change).",
    403: "The caller's role may never do this (see the roles above); the refusal is audited.",
    404: "No such record in the caller's reach (absent, out of jurisdiction, hidden, restricted or sealed alike).",
    409: "The record's state or a duplicate refuses the step (`detail` names the rule), or a concurrent request "
    "changed it first.",
    410: "The person was erased on purpose (only to a caller who may see the record; anyone else gets 404).",
    412: "`If-Match` names an older version than the record's.",
    413: "The body exceeds the service's limit.",
    422: "A value breaks its field's rule or the law's; `errors` names each field, never its value.",
    428: "`If-Match` is missing: send the `ETag` you read.",
    429: "Rate limited; `Retry-After` says when to retry.",
    503: "The database or the key provider is unavailable; nothing was changed.",
}
_EXAMPLE_DETAIL = {
    400: "X-Purpose is missing or not one your role may declare",
    401: "missing, invalid or expired token",
    403: "your role does not hold this permission",
    404: "no such resource",
    409: "the record's state does not allow this step",
    410: "the person's data was erased",
    412: "the record changed since it was read (If-Match)",
    413: "the body exceeds 1048576 bytes",
    422: "the request does not match the schema",
    428: "If-Match is required to change this record",
    429: "too many requests; try again later",
    503: "the database is unavailable; nothing was changed",
}
_TITLE = {t.slug: t.title for t in TYPES}


def _problem_response(status: int) -> dict[str, Any]:
    slug = BY_STATUS[status]
    example: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": _TITLE[slug],
        "status": status,
        "detail": _EXAMPLE_DETAIL[status],
        "request_id": "3f1c0b6a9d2e4c8b8f7a6e5d4c3b2a19",
    }
    if status == 422:
        example["errors"] = [{"loc": ["body", "arrived_on"], "msg": "Input should be a valid date"}]
    return {
        "description": _WHY[status],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}, "example": example}},
    }


@dataclass(frozen=True)
class Facts:
    """What a route takes, read from its dependency graph."""

    authenticated: bool
    purpose: bool
    path: bool
    references: bool  # names a record or unit in its query or body (absent or out of reach: 404)
    query: bool
    body: bool
    if_match: bool
    permissions: tuple[str, ...]
    declared: frozenset[int]  # statuses the route itself names (409, 410, 429, 503, …)

    def statuses(self, method: str) -> set[int]:
        found = {400, 503} | {s for s in self.declared if s >= 400}
        if method != "get":  # a state that refuses the step, a duplicate, or a concurrent writer first
            found.add(409)
        if self.authenticated:
            found |= {401, 422}  # 422: also any query parameter the operation does not take
            if len(roles_holding(self.permissions)) < len(Role):
                found.add(403)
        if self.path or self.references:
            found.add(404)
            if self.purpose:  # a record of an erased person, to a caller who may see it
                found.add(410)
        if self.path or self.query or self.body or self.if_match:
            found.add(422)
        if self.body:
            found.add(413)
        if self.if_match:
            found |= {412, 428}
        return found


_UNIT_KEYS = ("org_unit", "parent", "unit")
_NAMED = re.compile(r'"(?:\w+_ids?|org_unit\w*|parent\w*|unit\w*)": \{')  # a property naming a record or unit


def _refers(name: str, annotation: Any) -> bool:
    return name.endswith("_id") or name.endswith("_ids") or name.startswith(_UNIT_KEYS) or "UUID" in str(annotation)


def _body_refers(annotation: Any) -> bool:
    """Whether a body names another record (a uuid anywhere in it) or an org unit."""
    try:
        schema = TypeAdapter(annotation).json_schema()
    except Exception:  # a body that is not a model (a form) names nothing
        return False
    text = json.dumps(schema)
    return '"format": "uuid"' in text or bool(_NAMED.search(text))


def facts_of(route: APIRoute, *, token_calls: set[Callable[..., Any]], purpose_call: Callable[..., Any]) -> Facts:
    tree = list(_tree(route.dependant))
    calls = {d.call for d in tree}
    extra = route.openapi_extra or {}
    return Facts(
        authenticated=bool(calls & token_calls),
        purpose=purpose_call in calls,
        path=any(d.path_params for d in tree),
        references=any(_refers(p.name, p.field_info.annotation) for d in tree for p in d.query_params)
        or any(_body_refers(p.field_info.annotation) for d in tree for p in d.body_params),
        query=any(d.query_params for d in tree),
        body=any(d.body_params for d in tree),
        if_match=any(p.name == "if_match" for d in tree for p in d.header_params),
        permissions=tuple(extra.get(PERMISSIONS_KEY, ())),
        declared=frozenset(int(s) for s in route.responses if str(s).isdigit()),
    )


def purpose_parameter() -> dict[str, Any]:
    """`X-Purpose`, with its codes and the roles that may declare each (the policy table)."""
    lines = ["The purpose of use, recorded with every entry this request writes. Codes and who may declare them:"]
    for purpose in Purpose:
        roles = ", ".join(f"`{r.value}`" for r, p in POLICY.items() if purpose in p.purposes)
        lines.append(f"- `{purpose.value}`: {roles}")
    lines.append("Missing, unknown or not declarable by the caller's role: `400` (not `422`).")
    return {
        "name": "X-Purpose",
        "in": "header",
        "required": True,
        "description": "\n".join(lines),
        "schema": {"$ref": "#/components/schemas/Purpose"},
        "example": Purpose.REGISTRATION.value,
    }


_ETAG = {"type": "string", "pattern": IF_MATCH_PATTERN.replace("?P<version>", ""), "examples": ['"3"']}


def _who(facts: Facts) -> str:
    if not facts.authenticated:
        return "**Who may call it**: anyone (no token)."
    if not facts.permissions:
        return "**Who may call it**: any signed-in account, for itself."
    roles = ", ".join(f"`{r.value}`" for r in roles_holding(facts.permissions))
    perms = " or ".join(f"`{p}`" for p in facts.permissions)
    return (
        f"**Who may call it**: {roles} (permission {perms}); every other role is refused "
        "(`403`, or the same `404` as an absent record where the record's kind decides)."
    )


def _discloses(facts: Facts) -> str:
    if facts.purpose:
        return (
            "**Discloses**: personal values of records in the caller's jurisdiction, assignment and lists only, "
            "under the declared `X-Purpose`; anything else is the same `404`."
        )
    return "**Discloses**: no personal data of residents."


def _audits(method: str, facts: Facts) -> str:
    if not facts.authenticated:
        return "**Audit**: refusals and logins are recorded in the audit log."
    if method == "get":
        return (
            "**Audit**: every call is an entry in the audit log (with its purpose and the records it named), "
            "committed before the answer; every refusal is a denied entry."
        )
    return "**Audit**: the change and its audit entry commit in one transaction; every refusal is a denied entry."


TAGS = [
    {"name": "health", "description": "Liveness, readiness and metrics."},
    {"name": "authentication", "description": "Tokens, second factor and passwords."},
    {"name": "administration", "description": "Org units, users, service accounts and their approvals (`admin`)."},
    {"name": "persons", "description": "The identity record of a person (encrypted field by field)."},
    {"name": "residence", "description": "Dwellings, residence registrations, permits and their verification."},
    {"name": "casefiles", "description": "Special-group casefiles: lifecycle, events, leave, transfers."},
    {"name": "documents", "description": "The statutory papers each step produces, as PDF."},
    {"name": "audit", "description": "The audit log, its proofs, alerts and reviews (`auditor`)."},
    {"name": "keys and retention", "description": "Key versions, rotations, jobs, retention and holds."},
    {"name": "statistics", "description": "Aggregate counts and the monthly reports."},
]


def install_contract(app: FastAPI, *, token_calls: set[Callable[..., Any]], purpose_call: Callable[..., Any]) -> None:
    """Replace `app.openapi` with the derived document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes, tags=TAGS)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_model_schemas(Problem, ProblemField))
        for schema in ("HTTPValidationError", "ValidationError"):
            schemas.pop(schema, None)
        schemas["Purpose"] = {
            "type": "string",
            "enum": [p.value for p in Purpose],
            "description": "A purpose of use (`X-Purpose`).",
            "examples": [Purpose.REGISTRATION.value],
        }
        add_examples(schemas)
        for route in api_routes(app):
            if not route.include_in_schema or not route.path.startswith(API):
                continue
            facts = facts_of(route, token_calls=token_calls, purpose_call=purpose_call)
            for method in route.methods or ():
                _document(spec["paths"][route.path][method.lower()], method.lower(), facts)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def api_routes(app: FastAPI) -> list[APIRoute]:
    """The app's operations with their full paths (routers are included lazily: a route
    context answers for the router's route under its prefix)."""
    return [
        context  # type: ignore[misc]
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]


def _model_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _document(operation: dict[str, Any], method: str, facts: Facts) -> None:
    responses = operation.setdefault("responses", {})
    for status in sorted(facts.statuses(method)):
        responses[str(status)] = _problem_response(status)
    if facts.purpose:
        params = [p for p in operation.get("parameters", []) if p["name"].lower() != "x-purpose"]
        operation["parameters"] = [*params, purpose_parameter()]
    for param in operation.get("parameters", []):
        if param["name"].lower() == "if-match":  # an update without it is the 428 of API.md
            param.update(required=True, description="The `ETag` of the version you read.", schema=_ETAG)
    if facts.permissions:
        operation[PERMISSIONS_KEY] = list(facts.permissions)
    described = [operation.get("description", "").strip(), _who(facts), _discloses(facts), _audits(method, facts)]
    operation["description"] = "\n\n".join(part for part in described if part)
