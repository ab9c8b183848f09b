"""The ASGI entry point for `registry serve` (uvicorn imports it, also in each worker)."""

from registry.api.app import create_app
from registry.logs import configure_logging
from registry.runtime import open_runtime
from registry.settings import Settings

_settings = Settings()
configure_logging(_settings.log_level)
app = create_app(open_runtime(_settings), scheduler=True)
