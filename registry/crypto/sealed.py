"""What a sealed table is to the kernel, said once, beside its model (STYLE.md).

A `SealedTable` names the table bound into every AAD, whose data key seals a row (the
owner and the key compartment), the sealed columns, the columns declared non-personal,
the blind indexes and their normalisers, and who sees which field (and which keys inside
a sealed JSON value). Writes seal through it, `registry.disclosure` opens through it, and
key rotation, retention, erasure and the leak scan iterate `descriptors()`: nothing keeps
a second list. `tests/test_descriptors.py` fails when a column of the metadata is sealed
by no descriptor or by two, or when a column of a described table is neither sealed nor
declared plain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from registry.crypto.ciphertext import DataKey
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment


class Visibility(StrEnum):
    FULL = "full"
    MASKED = "masked"
    HIDDEN = "hidden"


class Mask(StrEnum):
    """How a masked field is shown (the functions are `registry.disclosure`'s)."""

    ID_NUMBER = "id_number"
    PHONE = "phone"
    NAME = "name"
    TEXT = "text"
    YEAR = "year"  # a date shown as its year only


@dataclass(frozen=True)
class SealedField:
    """One sealed column, stored as `<name>_ct`. `visibility` maps a role name to how the
    field is shown to it (a role absent from it never sees the field). For a JSON value,
    `withheld_keys` maps a role to a function of the row giving the keys that role must not
    see (e.g. offence details of a casefile, which depend on its kind). `holder` maps a role
    to how the field is shown when the caller holds a casefile of the row's person (the
    caller names the file to `registry.disclosure.disclose`; the wider of the two wins):
    holding a file gives its staff the identity reads the file needs, never the person."""

    name: str
    visibility: Mapping[str, Visibility]
    mask: Mask = Mask.TEXT
    json: bool = False
    withheld_keys: Mapping[str, Callable[[Any], frozenset[str]]] = field(default_factory=dict)
    holder: Mapping[str, Visibility] = field(default_factory=dict)

    @property
    def column(self) -> str:
        return f"{self.name}_ct"


@dataclass(frozen=True)
class BlindIndex:
    """An exact-search index: `normalise` gives the indexed value from the opened values of
    `reads` (None: the row has no entry)."""

    field: str
    reads: tuple[str, ...]
    normalise: Callable[[Mapping[str, str | None]], str | None]


@dataclass(frozen=True, eq=False)  # one object per table: identity is equality
class SealedTable:
    """A table with sealed columns. The owner of a row's data key is the row's
    `owner_column`, or, for a row that belongs to another (`parent`: its foreign-key column
    and the parent table), the parent's owner; erasing a parent clears its children."""

    model: Any
    compartment: Compartment
    fields: tuple[SealedField, ...]
    plain: frozenset[str]  # the other columns, each declared free of personal values
    owner_column: str | None = None
    parent: tuple[str, str] | None = None
    indexes: tuple[BlindIndex, ...] = ()
    erased_column: str | None = None  # rows with it set are erased: skipped by sweeps
    # What an exact-search hit shows of a row, whatever the caller's scope (field → mask).
    search_hit: Mapping[str, Mask] = field(default_factory=dict)
    id_column: str = "id"
    # Plain columns that tie the row to another record (a registration to its employer):
    # not personal alone, but erasure clears them with the sealed values (crypto.erasure).
    erased_links: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.erased_links <= self.plain:
            raise ValueError(f"{self.name}: erased_links must be plain columns")
        if (self.owner_column is None) == (self.parent is None):
            raise ValueError(f"{self.name}: exactly one of owner_column and parent")
        for f in self.fields:
            if f.json and Visibility.MASKED in f.visibility.values():
                # A JSON value has no mask: it is shown (less its withheld keys) or not at all.
                raise ValueError(f"{self.name}.{f.name}: a JSON field cannot be masked")

    @property
    def table(self) -> sa.Table:
        return self.model.__table__  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        return str(self.table.name)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> SealedField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} seals no field {name!r}")

    def index(self, name: str) -> BlindIndex:
        for i in self.indexes:
            if i.field == name:
                return i
        raise KeyError(f"{self.name} has no blind index {name!r}")

    @property
    def index_reads(self) -> tuple[str, ...]:
        return tuple(sorted({c for i in self.indexes for c in i.reads}))

    def owner_expression(self) -> sa.ColumnElement[Any]:
        """The owner id as SQL, for sweeps over the table (a correlated subquery for a child)."""
        if self.owner_column is not None:
            return self.table.c[self.owner_column]
        assert self.parent is not None
        fk, parent_name = self.parent
        parent = describe_table(parent_name)
        return (
            sa.select(parent.owner_expression())
            .where(parent.table.c[parent.id_column] == self.table.c[fk])
            .scalar_subquery()
        )

    def seal(self, key: DataKey, *, record_id: str, name: str, value: str | None) -> bytes | None:
        """`value` sealed for this table's column `name` of `record_id` (None stays None)."""
        self.field(name)
        return None if value is None else seal(key, value, table=self.name, column=name, record_id=record_id)

    def seal_row(self, key: DataKey, *, record_id: str, values: Mapping[str, str | None]) -> dict[str, bytes | None]:
        """Stored columns (`<name>_ct`) for `values` by field name."""
        return {self.field(n).column: self.seal(key, record_id=record_id, name=n, value=v) for n, v in values.items()}


_REGISTRY: dict[str, SealedTable] = {}


def describe(descriptor: SealedTable) -> SealedTable:
    """Register a table's descriptor (called once, beside its model)."""
    if descriptor.name in _REGISTRY and _REGISTRY[descriptor.name] is not descriptor:
        raise ValueError(f"{descriptor.name} is described twice")
    _REGISTRY[descriptor.name] = descriptor
    return descriptor


def describe_table(name: str) -> SealedTable:
    return _REGISTRY[name]


def descriptors() -> Iterator[SealedTable]:
    """Every registered descriptor, parents before their children. Callers import
    `registry.models` first (it imports every model module, and so every descriptor)."""
    done: set[str] = set()
    pending = sorted(_REGISTRY.values(), key=lambda d: d.name)
    while pending:
        for d in pending:
            if d.parent is None or d.parent[1] in done:
                done.add(d.name)
                pending.remove(d)
                yield d
                break
        else:
            raise ValueError("descriptor parents form a cycle or name an undescribed table")


def children_of(name: str) -> list[SealedTable]:
    return [d for d in _REGISTRY.values() if d.parent is not None and d.parent[1] == name]
