"""Local REST service: caption photos for other programs (screen-reader add-ons, photo
managers, scripts) through the same engine and model as the app.

Flask app built by :func:`create_app`, served by waitress in :func:`serve`. See docs/service.md.

Endpoints (all answers are JSON, errors too)::

    POST /caption            photo bytes, raw body or multipart (field "image")
    GET  /caption?path=FILE  a local file under --allow-paths
    GET  /wowme?image=FILE   the original deployment's name for the same thing
    GET  /health             liveness and load
    GET  /model              the model bundle's manifest

Query parameters on the caption endpoints: ``beam`` (1..max_beam), ``attention`` (0/1).

Cross-site requests are refused (docs/service.md, "Security notes"): a ``Sec-Fetch-Site``
other than ``same-origin``/``none`` or a foreign ``Origin`` gets 403 before anything else
happens, and a POST must carry a content type or header that a web page cannot send
without a CORS preflight (which is refused too).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from desktop import CaptionerError, PhotoError
from desktop.captioner import Captioner, CaptionOptions
from desktop.images import MAX_DECODE_S, load_pixels
from desktop.service.paths import PathPolicy, PathRefused
from desktop.service.pool import CaptionerPool, PoolBusy

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})
# A header a web page cannot send without a CORS preflight (which the service refuses).
CLIENT_HEADER = "X-Captioner-Client"
# Content types a page may POST without a preflight ("CORS-safelisted"), and none at all.
_SIMPLE_TYPES = frozenset(
    {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
# A refused ?path= answers no sooner than this, so "missing" is not trivially faster
# than "exists" (docs/service.md says what timing still tells).
PATH_REFUSAL_FLOOR_S = 0.05
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


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


def create_app(
    captioners: Captioner | Sequence[Captioner], config: ServiceConfig | None = None
) -> Flask:
    """Build the Flask app around already-loaded captioners (one per concurrent request)."""
    config = config or ServiceConfig()
    if not isinstance(captioners, Sequence):
        captioners = [captioners]
    pool = CaptionerPool(captioners, queue_size=config.queue_size, wait_s=config.wait_s)
    policy = PathPolicy.from_folders(config.allow_paths)

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # keep "caption" first, as documented
    app.json.ensure_ascii = False  # UTF-8 JSON; file names stay readable in messages
    # For tests and embedders (e.g. to hold a captioner and see the queue fill up).
    app.extensions["captioner_service"] = {"pool": pool, "policy": policy, "config": config}

    @app.before_request
    def _check_host() -> None:
        if not config.local_host_header_only:
            return
        host = request.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        # No Host header at all (HTTP/1.0 scripts) is fine: browsers always send one.
        if host and not is_loopback(name):
            raise Forbidden(
                f"this service answers requests for localhost only (Host: {host!r}); "
                "start it with --host to serve other computers"
            )

    @app.before_request
    def _refuse_cross_site() -> Response | None:
        site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
        if site not in ("", "same-origin", "none"):
            raise Forbidden(
                f"requests from web pages are refused (Sec-Fetch-Site: {site}); "
                "call the service from a program"
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") != f"{request.scheme}://{request.host}":
            raise Forbidden(
                f"requests from web pages are refused (Origin: {origin[:100]!r}); "
                "call the service from a program"
            )
        if request.method == "OPTIONS":  # a CORS preflight: never granted
            raise Forbidden("cross-origin requests are not answered")
        if (
            request.method == "POST"
            and request.mimetype in _SIMPLE_TYPES
            and CLIENT_HEADER not in request.headers
        ):
            raise UnsupportedMediaType(
                "send the photo with Content-Type: image/jpeg (or image/png, "
                f"application/octet-stream, …), or add the header '{CLIENT_HEADER}: NAME' "
                "to a form or text upload (web pages cannot send either without asking)"
            )
        return None

    @app.get("/")
    def index() -> Response:
        return jsonify(
            service="offline-captioner",
            endpoints={
                "POST /caption": "photo bytes (raw body or multipart field 'image')",
                "GET /caption?path=FILE": "a local photo under --allow-paths",
                "GET /wowme?image=FILE": "same as GET /caption",
                "GET /health": "liveness and load",
                "GET /model": "the model's manifest",
            },
            parameters={"beam": f"1..{config.max_beam}", "attention": "0 or 1"},
        )

    @app.get("/health")
    def health() -> Response:
        return jsonify(
            status="ok",
            model=pool.manifest.get("name"),
            workers=pool.size,
            queue_size=pool.queue_size,
            **pool.load(),
        )

    @app.get("/model")
    def model() -> Response:
        return jsonify(pool.manifest)

    @app.post("/caption")
    def caption_upload() -> Response:
        options = _options(config)
        photo = _uploaded_photo()
        return _caption(pool, photo, options, config)

    @app.get("/caption")
    @app.get("/wowme")
    def caption_local() -> Response:
        options = _options(config)
        reference = _reference()
        asked = time.monotonic()
        try:
            # One open, checked by what it opened (no check-then-open race), read into memory.
            data = policy.open(reference, config.max_body_bytes)
        except PathRefused:
            time.sleep(max(0.0, asked + PATH_REFUSAL_FLOOR_S - time.monotonic()))
            raise
        try:
            return _caption(pool, data, options, config)
        except PhotoError as e:
            raise PhotoError(reference, e.reason) from e

    _register_error_handlers(app, config)
    return app


def _reference() -> str:
    given = {name: request.args[name] for name in ("path", "image") if name in request.args}
    if len(given) > 1:
        raise BadRequest("give either ?path= or ?image=, not both")
    if not given:
        raise BadRequest(
            "give the photo with ?path=/absolute/file.jpg (under --allow-paths), "
            "or POST its bytes to /caption"
        )
    return next(iter(given.values()))


def _options(config: ServiceConfig) -> CaptionOptions:
    args = request.args
    overrides: dict[str, Any] = {}
    if "beam" in args:
        try:
            beam = int(args["beam"])
        except ValueError:
            raise BadRequest(f"beam must be a whole number, got {args['beam']!r}") from None
        if not 1 <= beam <= config.max_beam:
            raise BadRequest(f"beam must be between 1 and {config.max_beam}, got {beam}")
        overrides["beam_width"] = beam
    value = args.get("attention", "0").strip().lower()
    if value not in _TRUE | _FALSE:
        raise BadRequest(f"attention must be 0 or 1, got {args['attention']!r}")
    overrides["with_attention"] = value in _TRUE
    value = args.get("text", "1").strip().lower()
    if value not in _TRUE | _FALSE:
        raise BadRequest(f"text must be 0 or 1, got {args['text']!r}")
    overrides["read_text"] = value in _TRUE
    return CaptionOptions(**overrides)


def _uploaded_photo() -> bytes:
    # Only multipart is parsed as a form: `curl --data-binary @photo.jpg` labels the raw bytes
    # application/x-www-form-urlencoded, and parsing them as a form would lose them.
    if request.mimetype == "multipart/form-data":
        files = request.files
        if "image" in files:
            upload = files["image"]
        elif len(files) == 1:
            upload = next(iter(files.values()))
        elif not files:
            raise BadRequest("the multipart form has no file; send the photo as field 'image'")
        else:
            raise BadRequest(f"several files sent ({', '.join(files)}); name the photo 'image'")
        data = upload.read()
    else:
        data = request.get_data(cache=False)
    if not data:
        raise BadRequest("the request has no photo: send the photo's bytes as the body")
    return data


def _caption(
    pool: CaptionerPool, photo: bytes | str, options: CaptionOptions, config: ServiceConfig
) -> Response:
    with pool.admit():
        # Decoded here, in this request's own thread and holding no captioner: a photo that
        # is slow to decode keeps no other request waiting (Pillow releases the GIL).
        start = time.perf_counter()
        pixels = load_pixels(photo, pool.input_size, time_limit_s=config.decode_limit_s)
        decoded = time.perf_counter()
        with pool.captioner() as captioner:
            queue_ms = (time.perf_counter() - decoded) * 1000.0
            # The photo goes too: the text reader decodes it again at its own resolution.
            result = captioner.caption_pixels(
                pixels, options, load_ms=(decoded - start) * 1000.0, source=photo
            )
    body: dict[str, Any] = {
        "caption": result.text,
        "score": round(float(result.score), 4),
        "words": list(result.words),
        "beam": options.beam_width,
        "objects": [o.to_dict() for o in result.objects],
        "confidence": None if result.confidence is None else round(result.confidence, 4),
        "unsure": result.unsure,
        "text": [
            {"text": t.text, "confidence": t.confidence, "box": [round(v, 4) for v in t.box]}
            for t in result.text_lines
        ],
        "text_kind": result.text_kind,
        "timings": {**_timings(result.timings), "queue_ms": round(queue_ms, 2)},
    }
    if options.with_attention and result.attention is not None:
        attention = result.attention
        body["attention_grid"] = list(attention.shape[1:])
        body["attention"] = attention.round(4).tolist()
    return jsonify(body)


def _timings(timings: Any) -> dict[str, float]:
    if dataclasses.is_dataclass(timings):
        values = dataclasses.asdict(timings)
    elif hasattr(timings, "_asdict"):
        values = timings._asdict()
    else:
        values = dict(vars(timings))
    return {name: round(float(value), 2) for name, value in values.items()}


def _register_error_handlers(app: Flask, config: ServiceConfig) -> None:
    def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        response = jsonify(error=message, status=status)
        response.status_code = status
        response.headers.update(headers or {})
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        message = exc.description or exc.name
        if isinstance(exc, NotFound) and message == NotFound.description:
            message = f"no such endpoint: {request.path} (GET / lists them)"
        elif isinstance(exc, MethodNotAllowed):
            allowed = ", ".join(sorted(set(exc.valid_methods or ()) - {"HEAD", "OPTIONS"}))
            message = f"{request.method} is not allowed on {request.path}; use {allowed}"
        elif isinstance(exc, RequestEntityTooLarge) and message == exc.__class__.description:
            if (request.content_length or 0) <= config.max_body_bytes:
                # Werkzeug's own limit on form parts, not the size.
                message = "the form has too many parts; send the photo alone as field 'image'"
            else:
                message = f"the photo is over the {config.max_body_bytes / 2**20:g} MB limit"
        # get_response keeps headers such as Allow on a 405.
        response = exc.get_response()
        headers = {k: v for k, v in response.headers.items() if k.lower() == "allow"}
        return error(exc.code or 500, message, headers)

    @app.errorhandler(PathRefused)
    def path_refused(exc: PathRefused) -> Response:
        return error(exc.status, exc.message)

    @app.errorhandler(PoolBusy)
    def busy(exc: PoolBusy) -> Response:
        return error(503, str(exc), {"Retry-After": "1"})

    @app.errorhandler(PhotoError)
    def bad_photo(exc: PhotoError) -> Response:
        if getattr(exc, "name", None) == "<bytes>":
            return error(400, f"the uploaded photo cannot be read: {exc.reason}")
        return error(400, str(exc))

    @app.errorhandler(CaptionerError)
    def model_failed(exc: CaptionerError) -> Response:
        log.error("captioning failed: %s", exc)
        return error(500, f"the model failed: {exc}")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # The traceback goes to the log, never to the client.
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error(500, "internal error; the service log has the details")


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
