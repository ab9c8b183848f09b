"""Key administration (`security_admin`): what keys exist, never their material."""

from __future__ import annotations

from fastapi import APIRouter

from registry.access.policy import Permission
from registry.api.deps import ContextDep, RuntimeDep, SessionDep
from registry.crypto.rotation import key_status

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.get("")
def list_keys(runtime: RuntimeDep, session: SessionDep, ctx: ContextDep) -> list[dict[str, object]]:
    ctx.principal.require(Permission.KEY_MANAGE)
    suite = runtime.keyring.suite
    return [
        {
            "id": f"{row.purpose}:v{row.version}",
            "purpose": row.purpose,
            "suite": suite,
            "version": row.version,
            "status": row.status,
            "count": row.count,
            "created_at": row.created_at,
        }
        for row in key_status(session, runtime.keyring)
    ]
