"""The waitress server under the Flask app: its thread and size limits, and a channel that
answers waitress' own errors as JSON, drops clients too slow to send their headers and caps
the connections of one remote address."""

from __future__ import annotations

import json
import time

from flask import Flask

from desktop.service.config import ServiceConfig, is_loopback


def make_server(app: Flask, host: str, port: int, *, config: ServiceConfig, workers: int):
    """A waitress server (not started) for ``app``; ``server.effective_port`` is the port."""
    import waitress.server

    server = waitress.server.create_server(
        app,
        host=host,
        port=port,
        # More threads than pool places, so /health answers and an over-full line gets a 503
        # at once instead of waiting unseen in waitress's own (unbounded) task queue.
        threads=workers + config.queue_size + 2,
        # Bodies far over the limit are cut off by waitress before they are buffered; the ones
        # just over it reach Flask, which answers the JSON 413.
        max_request_body_size=4 * config.max_body_bytes + 2**20,
        ident="offline-captioner",
        # Idle connections are closed after 10 s (checked every 2 s), and far more may be
        # open than a handful of idle ones can use up (waitress stops accepting at the limit).
        connection_limit=1000,
        channel_timeout=10,
        cleanup_interval=2,
    )
    channel = _json_error_channel(config)
    # One listening socket, or several (a name like localhost): each makes the channels.
    for listener in [server, *getattr(server, "map", {}).values()]:
        if hasattr(listener, "channel_class"):
            listener.channel_class = channel
    return server


def _json_error_channel(config: ServiceConfig):
    """waitress' channel, with its own error answers (400, 413, 431, 501 …) as JSON, a
    deadline for a request's headers and a cap on the connections of one remote client."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self) -> None:
            e = self.request.error
            body = json.dumps({"error": f"{e.reason.lower()}: {e.body}", "status": e.code})
            data = body.encode("utf-8")
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(data)
            self.write(data)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask
        _headers_since: float | None = None  # when the unfinished request's first byte came

        def __init__(self, server, sock, addr, adj, map=None):
            super().__init__(server, sock, addr, adj, map)
            client = addr[0] if isinstance(addr, tuple) else addr
            if client and not is_loopback(str(client)):
                mine = sum(
                    1
                    for c in server.active_channels.values()
                    if isinstance(c.addr, tuple) and c.addr[0] == client
                )
                if mine > config.max_connections_per_client:
                    self.will_close = True  # closed by waitress before anything is read

        def received(self, data: bytes) -> bool:
            now = time.monotonic()
            if self.request is None or not self.request.headers_finished:
                if self._headers_since is None:
                    self._headers_since = now
                elif now - self._headers_since > config.header_timeout_s:
                    self.will_close = True  # too slow: dropped, as idle ones are
                    return False
            result = super().received(data)
            if self.request is None or self.request.headers_finished:
                self._headers_since = None
            return result

    return JsonErrorChannel
