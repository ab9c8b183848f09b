"""The ASGI application: routes, error handlers and middleware around one runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from registry import idempotency
from registry.api.contract import TAGS, install_contract
from registry.api.deps import get_enrolling_principal, get_principal
from registry.api.errors import install_error_handlers
from registry.api.middleware import (
    BodyLimitMiddleware,
    InputGuardMiddleware,
    LoginGateMiddleware,
    RequestLogMiddleware,
    TransactionMiddleware,
)
from registry.api.routes import (
    admin,
    audit,
    auth,
    casefiles,
    credentials,
    documents,
    health,
    jobs,
    keys,
    persons,
    reports,
    residence,
    retention,
    stats,
)
from registry.api.routes.movements import router as movements_router
from registry.api.routing import install_routers, operation_id
from registry.audit.sequencer import SequencerThread
from registry.console.mount import install_console
from registry.maintenance import resume_interrupted
from registry.runtime import Runtime
from registry.scheduler import Scheduler, SchedulerThread


def create_app(runtime: Runtime, *, scheduler: bool = False) -> FastAPI:
    """`scheduler`: run the sweeps (`registry serve` does; a test app asks for them)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resume_interrupted(runtime)
        sequencer = SequencerThread(
            runtime.sequencer,
            interval_s=runtime.settings.audit_sequencer_interval_s,
            checkpoint_interval_s=runtime.settings.audit_checkpoint_interval_s,
        )
        sequencer.start()
        app.state.sequencer_thread = sequencer
        sweeps = None
        if scheduler:
            sweeps = SchedulerThread(
                Scheduler(runtime, lease_s=runtime.settings.scheduler_lease_s),
                interval_s=runtime.settings.scheduler_interval_s,
            )
            sweeps.start()
        yield
        if sweeps is not None:
            sweeps.stop()
        runtime.jobs.shutdown()
        sequencer.stop()

    # The API docs' scripts and styles are served by the service itself (no outside host).
    app = FastAPIOffline(
        lifespan=lifespan,
        title="registry",
        version="1",
        summary="Residence records and special-group casefiles, private by construction.",
        openapi_url="/openapi.json",
        openapi_tags=TAGS,
        generate_unique_id_function=operation_id,
    )
    app.state.runtime = runtime
    app.state.idempotency_key = idempotency.purpose_key(runtime.token_secret)
    app.state.login_throttle = auth.new_login_throttle(runtime.settings)
    install_error_handlers(app)
    routers = (
        health.router,
        auth.router,
        admin.router,
        persons.router,
        keys.router,
        jobs.router,
        audit.router,
        residence.router,
        credentials.router,
        stats.router,
        reports.router,
        casefiles.router,
        documents.router,
        movements_router,
        retention.router,
    )
    install_routers(app, routers)
    install_console(app, secret=runtime.token_secret)
    install_contract(app, token_calls={get_principal, get_enrolling_principal}, purpose_call=persons.purposeful_context)
    # Added innermost first: the transaction sits inside the input guard, the body limit and the request log.
    app.add_middleware(TransactionMiddleware, engine=runtime.engine)
    app.add_middleware(InputGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(LoginGateMiddleware, throttle=app.state.login_throttle)
    app.add_middleware(RequestLogMiddleware, trusted_proxies=runtime.settings.trusted_proxies)
    return app
