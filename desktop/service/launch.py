"""``captioner serve``: check the options, load the captioners, bind, and run until Ctrl+C.

Errors the user can fix are one line on stderr and an exit status (2: options or model, 1:
the address), never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

from desktop import CaptionerError
from desktop.captioner import Captioner
from desktop.service.app import create_app
from desktop.service.config import DEFAULT_HOST, DEFAULT_PORT, ServiceConfig, is_loopback
from desktop.service.paths import PathPolicy
from desktop.service.server import make_server


def load_captioners(
    model_dir: str | os.PathLike[str] | None,
    *,
    workers: int,
    threads: int | None,
    accelerator: str | None = None,
) -> list[Captioner]:
    """One captioner per concurrent request (their interpreters are not thread-safe)."""
    return [
        Captioner.load(model_dir, threads=threads, accelerator=accelerator) for _ in range(workers)
    ]


def default_workers(threads: int | None) -> int:
    """Two captioners side by side where there are cores to spare, else one."""
    cores = os.cpu_count() or 1
    return 2 if cores >= 2 * max(2, threads or 2) else 1


def _as_folders(allow_paths: Any) -> tuple[str, ...]:
    if allow_paths is None:
        return ()
    if isinstance(allow_paths, str | os.PathLike):
        return (os.fspath(allow_paths),)
    return tuple(os.fspath(p) for p in allow_paths)


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    model_dir: str | os.PathLike[str] | None = None,
    allow_paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    threads: int | None = None,
    *,
    accelerator: str | None = None,
    workers: int | None = None,
    queue_size: int = ServiceConfig.queue_size,
    max_body_mb: float = ServiceConfig.max_body_bytes / 2**20,
) -> int:
    """Run the service until interrupted. Returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = ServiceConfig(
        allow_paths=_as_folders(allow_paths),
        max_body_bytes=int(max_body_mb * 2**20),
        queue_size=queue_size,
        local_host_header_only=is_loopback(host),
    )
    workers = workers or default_workers(threads)
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, so other computers on the network can use this "
            "service; it has no authentication or encryption. Use --host 127.0.0.1 to keep "
            "it on this computer.",
            file=sys.stderr,
        )
    try:
        PathPolicy.from_folders(config.allow_paths)  # a typo fails before the slow model load
    except (CaptionerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        captioners = load_captioners(
            model_dir, workers=workers, threads=threads, accelerator=accelerator
        )
        app = create_app(captioners, config)
    except (CaptionerError, ValueError) as exc:
        print(f"error: cannot use the model: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(app, host, port, config=config, workers=workers)
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    roots = app.extensions["captioner_service"]["policy"].roots
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"Captioning on http://{shown_host}:{server.effective_port}/ "
        f"(model {captioners[0].bundle.name!r} on {captioners[0].accelerator}, "
        f"{workers} worker(s), "
        f"local paths: {', '.join(map(str, roots)) or 'off'}). Ctrl+C stops.",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
