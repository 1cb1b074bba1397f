"""What one service instance allows (its limits and policy), and which host names are this
computer: the Flask app, the waitress channel and ``serve`` all decide by them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from desktop.images import MAX_DECODE_S

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


@dataclass(frozen=True)
class ServiceConfig:
    """Limits and policy of one service instance."""

    allow_paths: tuple[str, ...] = ()  # folders GET /caption?path= may read; none = refuse all
    max_body_bytes: int = 32 * 1024 * 1024  # larger uploads (and local files) get 413
    queue_size: int = 8  # requests that may wait for a free captioner; more get 503
    wait_s: float = 60.0  # a waiting request gives up (503) after this long
    # A photo decodes in its own request's thread before a captioner is taken, and gives up
    # (400, "took too long to decode") after this long: a 25 KB JPEG of 100 scans held the
    # only captioner for 20 s, and the next ordinary request waited for it.
    decode_limit_s: float = MAX_DECODE_S
    max_beam: int = 10
    # Bound to loopback, answer only requests addressed to this computer by name: a web page
    # that rebinds its own domain to 127.0.0.1 (DNS rebinding) then cannot read the answers.
    local_host_header_only: bool = True
    # A request's line and headers must all arrive within this long: the idle timeout
    # alone never fired for 1,005 connections trickling a header line every 4 s, and they
    # kept /health from answering for as long as they lasted.
    header_timeout_s: float = 10.0
    # Connections open at once from one address other than this computer's (whose local
    # clients all share 127.0.0.1, so a cap there would lock out the legitimate ones too).
    max_connections_per_client: int = 64


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
