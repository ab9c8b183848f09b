"""Every table's metadata in one place, for Alembic and the schema-drift test."""

from sqlmodel import SQLModel

from registry import idempotency as _idempotency  # noqa: F401
from registry.access import models as _access  # noqa: F401  (registers tables)
from registry.audit import models as _audit  # noqa: F401
from registry.casefiles import models as _casefiles  # noqa: F401
from registry.credentials import models as _credentials  # noqa: F401
from registry.crypto import models as _crypto  # noqa: F401
from registry.jobs import models as _jobs  # noqa: F401
from registry.people import models as _people  # noqa: F401
from registry.reports import models as _reports  # noqa: F401
from registry.residence import models as _residence  # noqa: F401

metadata = SQLModel.metadata
