"""One workflow module per casefile kind, and the table of them.

`WORKFLOWS` lives here rather than in `common` because it needs every kind's module, and
each of those imports `common`.
"""

from __future__ import annotations

from registry.casefiles.workflows import correction, drug, resettlement
from registry.casefiles.workflows.common import Kind, Workflow

WORKFLOWS: dict[Kind, Workflow] = {
    Kind.community_correction: correction.WORKFLOW,
    Kind.resettlement: resettlement.WORKFLOW,
    Kind.drug_rehabilitation: drug.WORKFLOW,
}


def workflow_for(kind: Kind | str) -> Workflow:
    """The workflow of `kind`; `ValueError` for a kind that does not exist."""
    return WORKFLOWS[Kind(kind)]


__all__ = ["WORKFLOWS", "Kind", "Workflow", "workflow_for"]
