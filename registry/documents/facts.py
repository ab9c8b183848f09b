"""What a document prints, opened through `registry.disclosure` and flattened to paths.

`Facts.open` discloses one record's wanted fields (each entry a `document:read` naming the
document id) and keeps each path the caller's roles may see: its value, or None when the
record holds none (a blank line). A path the role may not see is absent, so the builder
leaves its line out (`Facts.line` gives None).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session

from registry.audit.actions import Action
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.crypto.sealed import SealedTable
from registry.disclosure import disclose, shown_paths
from registry.documents.paper import Line


def day(value: date | str | None) -> str | None:
    """A date as printed on a Chinese form (2026年12月6日); None stays a blank line."""
    if value is None:
        return None
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return f"{d.year}年{d.month}月{d.day}日"


@dataclass
class Facts:
    session: Session
    ctx: Context
    keyring: Keyring
    document_id: uuid.UUID
    kind: str
    values: dict[str, Any] = field(default_factory=dict)  # path → value (None: not in the record)
    plain: dict[str, Any] = field(default_factory=dict)  # plain columns and names: never personal
    records: list[str] = field(default_factory=list)  # ids of the records printed from

    def open(
        self,
        prefix: str,
        descriptor: SealedTable,
        row: Any,
        *,
        subject: str,
        wanted: Collection[str],
        held_file: str | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        """Disclose `wanted` of `row` (field names, `<json field>.<key>`) for this document."""
        paths = shown_paths(self.ctx.principal.roles, descriptor, row, holder=held_file is not None, only=wanted)
        self.records.append(str(getattr(row, descriptor.id_column)))
        if not paths:
            return
        opened = disclose(
            self.session,
            self.ctx,
            self.keyring,
            descriptor,
            row,
            action=Action.DOCUMENT_READ,
            subject=subject,
            also=(str(self.document_id), *also),
            held_file=held_file,
            only=wanted,
            reason=self.kind,
        )
        for path in paths:
            name, _, key = path.partition(".")
            value = opened.get(name)
            self.values[f"{prefix}.{path}"] = value.get(key) if key and isinstance(value, dict) else value

    def line(self, label: str, path: str, show=None) -> Line | None:  # type: ignore[no-untyped-def]
        """The line of `path`: None (left out) when the role may not see it; a blank line
        when the record holds no value; `show` formats a value (a code's label, a date)."""
        if path not in self.values:
            return None
        value = self.values[path]
        if value is not None and show is not None:
            value = show(value)
        return Line(label, None if value is None else str(value), source=path)

    def has(self, path: str) -> bool:
        return self.values.get(path) is not None
