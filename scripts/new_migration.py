"""Autogenerate the next Alembic revision against a scratch SQLite database, then tidy it
into the house form (plain SQLAlchemy types, `UTCDateTime`, no downgrade).

    .venv/bin/python scripts/new_migration.py "what changed"
Read the result before committing: autogenerate misses triggers, data moves and renames.
"""

from __future__ import annotations

import re
import sys
import tempfile

from alembic import command
from alembic.script import ScriptDirectory

from registry.db import MIGRATIONS_DIR, _alembic_config, create_engine, migrate


def main(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{scratch}/scratch.db")
        migrate(engine)
        config = _alembic_config(engine)
        head = ScriptDirectory.from_config(config).get_current_head()
        rev_id = f"{int(head or 0) + 1:04d}"
        command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
        engine.dispose()
    path = next(MIGRATIONS_DIR.glob(f"versions/{rev_id}_*.py"))
    text = path.read_text()
    text = re.sub(r"sqlmodel\.sql\.sqltypes\.AutoString\(length=(\d+)\)", r"sa.String(\1)", text)
    text = text.replace("registry.db.UTCDateTime(timezone=True)", "UTCDateTime()")
    text = text.replace("from alembic import op\n", "from alembic import op\n\nfrom registry.db import UTCDateTime\n")
    text = re.sub(r"    # ### (commands auto generated|end Alembic commands).*\n", "", text)
    text = re.sub(r"Create Date: .*\n", "", text)
    text = text[: text.index("def downgrade")] + (
        'def downgrade() -> None:\n    raise NotImplementedError("forward-only: restore from backup")\n'
    )
    path.write_text(text)
    print(path)


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "change")
