"""The local REST service (``captioner serve``); see docs/service.md."""

from desktop.service.app import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServiceConfig,
    create_app,
    default_workers,
    is_loopback,
    load_captioners,
    make_server,
    serve,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServiceConfig",
    "create_app",
    "default_workers",
    "is_loopback",
    "load_captioners",
    "make_server",
    "serve",
]
