"""A court's notice imported as a logged-in officer: a casefile and its notice receipt, for
the tests that must reach every sealed table (rotation, the leak scan)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from registry.accounts.console_login import Credentials, log_in
from registry.casefiles.notices.formats import NoticeKind
from registry.casefiles.notices.importer import NoticeCounts, import_file
from tests.api_helpers import STRONG_PASSWORD

COURT_NOTICE = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "judgment_effective_on": "2025-12-22",
    "term_starts_on": "2025-12-22",
    "term_ends_on": "2026-12-21",
}


def receive_notice(
    runtime, directory: Path, *, username: str, id_number: str, name: str, org_unit: str, document_no: str
) -> Callable[[], NoticeCounts]:  # type: ignore[no-untyped-def]
    """Import one court notice as `username` (its password is STRONG_PASSWORD); returns the
    import, to run again (a duplicate from then on)."""
    credentials = Credentials(username, STRONG_PASSWORD, None)
    officer = log_in(runtime.engine, runtime.clock, runtime.provider, runtime.settings, credentials)
    row = {"document_no": document_no, "id_number": id_number, "name": name, "org_unit": org_unit, **COURT_NOTICE}
    path = directory / "court-notice.ndjson"
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")

    def run() -> NoticeCounts:
        return import_file(runtime, path, kind=NoticeKind.court_correction, principal=officer)

    counts = run()
    assert (counts.opened, counts.rejected) == (1, 0), "the notice did not open its file"
    return run
