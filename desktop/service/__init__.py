"""The local REST service (``captioner serve``): caption photos for other programs
(screen-reader add-ons, photo managers, scripts) through the same engine and model as the
app. See docs/service.md.

- ``app``: the Flask app, its endpoints, request checks and JSON errors;
- ``server``: the waitress server under it and its connection limits;
- ``launch``: ``serve``, what ``captioner serve`` runs;
- ``config``: one instance's limits and policy, and which hosts are this computer;
- ``paths``: which local files ``?path=`` may read; ``pool``: the captioners lent to requests.
"""

from desktop.service.app import create_app
from desktop.service.config import DEFAULT_HOST, DEFAULT_PORT, ServiceConfig, is_loopback
from desktop.service.launch import default_workers, load_captioners, serve
from desktop.service.server import make_server

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
