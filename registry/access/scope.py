"""Jurisdiction scope as a typed query argument (polar's AccessibleOrganizationID pattern).

Repository functions take a `Scope`, so a query without one does not type-check, and the
filter lives inside the SQL: out-of-scope rows are never loaded, and answer 404.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement


@dataclass(frozen=True)
class Scope:
    # Materialised path of the caller's org unit ("/320500/320571/"); None is the whole
    # tree, held only by accounts without an org unit (the bootstrap administrator).
    path_prefix: str | None

    def covers(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def clause(self, path_column: sa.ColumnElement[str] | sa.orm.InstrumentedAttribute[str]) -> ColumnElement[bool]:
        if self.path_prefix is None:
            return sa.true()
        # Paths are digits and slashes only, so LIKE needs no escaping.
        return path_column.startswith(self.path_prefix)
