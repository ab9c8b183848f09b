"""The problem types the API answers (RFC 9457), described once: each `type` URI is a page
the service serves (`GET /problems/<slug>`) saying what happened and what to do. Every
body carries `request_id`, the response's `X-Request-ID` (the access and audit logs record
it), so a client can quote it. It is drawn at random per request: two refusals of
different causes still read alike in every other member.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from registry.logs import request_id_var


@dataclass(frozen=True)
class ProblemType:
    slug: str
    title: str
    means: str
    todo: str


TYPES: tuple[ProblemType, ...] = (
    ProblemType(
        "bad-request",
        "Bad request",
        "The request cannot be read as sent: a malformed query value or cursor, or a missing or "
        "undeclarable `X-Purpose` for a request that discloses personal data.",
        "Correct the request as `detail` says. `X-Purpose` must be one of the purposes your role may declare.",
    ),
    ProblemType(
        "unauthenticated",
        "Unauthenticated",
        "No valid bearer token: none was sent, it expired, or its account was disabled, re-roled or "
        "its password changed (every such change ends the account's tokens).",
        "Log in again at `POST /api/v1/auth/token`.",
    ),
    ProblemType(
        "forbidden",
        "Forbidden",
        "Your role may not do this at all (its permission is missing); the refusal is in the audit log.",
        "Ask an administrator whether your account should hold the role; do not retry.",
    ),
    ProblemType(
        "not-found",
        "Not found",
        "No such record in your reach: it does not exist, or it is outside your jurisdiction, hidden "
        "by its kind, or closed to you by its lists or seal. These look alike on purpose.",
        "Check the id. If the record should be yours, ask the unit that holds it; probing is audited.",
    ),
    ProblemType("method-not-allowed", "Method not allowed", "The path exists but not with this method.", "See /docs."),
    ProblemType(
        "conflict",
        "Conflict",
        "The record is not in a state that allows this step (a rule of the law or the workflow), or "
        "another request changed it first.",
        "Read the record again; `detail` names the rule. A step not yet allowed becomes allowed once "
        "the record reaches it.",
    ),
    ProblemType(
        "gone",
        "Erased",
        "The person was erased on purpose (crypto-shredded, PIPL Art. 47): the record existed and its "
        "personal data is gone for good. Only a caller who may see the record is told; anyone else gets 404.",
        "Nothing to retry. Remove your own copies of the record's data.",
    ),
    ProblemType(
        "precondition-failed",
        "Precondition failed",
        "The record changed since you read it (its `If-Match` version is older).",
        "Read it again, apply your change to what is there now, send it with the new version.",
    ),
    ProblemType(
        "body-too-large", "Body too large", "The request body exceeds the service's limit.", "Send less per request."
    ),
    ProblemType(
        "unsupported-media-type",
        "Unsupported media type",
        "The body's content type is not one this operation reads.",
        "Send `application/json` (or the form the operation documents).",
    ),
    ProblemType(
        "invalid-input",
        "Invalid input",
        "A value breaks a rule of its field or of the law (`detail`, and `errors` for each field); no "
        "value you sent is echoed back.",
        "Correct the named fields; the rule and its article are in `detail`.",
    ),
    ProblemType(
        "precondition-required",
        "Precondition required",
        "A change to this record needs the version you read (`If-Match`), so two edits never overwrite each other.",
        "Read the record and send its `ETag` as `If-Match`.",
    ),
    ProblemType(
        "too-many-requests",
        "Too many requests",
        "A rate limit: failed logins, verifications per minute, or argon2 checks at once.",
        "Wait the `Retry-After` seconds before trying again.",
    ),
    ProblemType(
        "internal-error",
        "Internal error",
        "The service failed; nothing was changed.",
        "Retry later; if it persists, give the operator the `request_id` of the body.",
    ),
    ProblemType(
        "unavailable",
        "Service unavailable",
        "A dependency (the database, the key provider, the document font) is unavailable; nothing was changed.",
        "Retry later; the operator sees it on `/readyz`.",
    ),
    ProblemType("error", "Error", "Any other refusal.", "Read `detail`; quote the `request_id` to the operator."),
)
BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    412: "precondition-failed",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    503: "unavailable",
}
_BY_SLUG = {t.slug: t for t in TYPES}


def problem_body(status: int, title: str, detail: str, *, slug: str | None = None, **extra: object) -> dict[str, Any]:
    """An RFC 9457 body whose `type` is a page of the service."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug or BY_STATUS.get(status, 'error')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    request_id = request_id_var.get()
    if request_id is not None:
        body.setdefault("request_id", request_id)
    return body


def page(slug: str) -> str | None:
    """The HTML page of a problem type (no script, no outside host), or None."""
    found = _BY_SLUG.get(slug)
    if found is None:
        return None
    esc = html.escape
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(found.title)} — registry problem</title></head><body>"
        f"<h1>{esc(found.title)}</h1><p><code>type: /problems/{esc(found.slug)}</code></p>"
        f"<h2>What it means</h2><p>{esc(found.means)}</p><h2>What to do</h2><p>{esc(found.todo)}</p>"
        "<p>Quote the body's <code>request_id</code> (also the <code>X-Request-ID</code> header) to the operator. "
        '<a href="/problems">All problem types</a> · '
        '<a href="/docs">API docs</a></p></body></html>'
    )


def index() -> str:
    items = "".join(f'<li><a href="/problems/{t.slug}">{html.escape(t.title)}</a></li>' for t in TYPES)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>registry problem types</title></head>'
        f"<body><h1>Problem types</h1><ul>{items}</ul></body></html>"
    )
