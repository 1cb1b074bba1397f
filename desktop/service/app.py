"""The service's Flask app: its endpoints, the checks every request passes first, and its
JSON answers, errors included. Built by :func:`create_app` around loaded captioners;
``launch.serve`` runs it under waitress (``server.py``). See docs/service.md.

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
import logging
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.json.provider import DefaultJSONProvider
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
from desktop.images import load_pixels
from desktop.service.config import ServiceConfig, is_loopback
from desktop.service.paths import PathPolicy, PathRefused
from desktop.service.pool import CaptionerPool, PoolBusy

# The package's name, as before it was split: the service log's lines keep their prefix.
log = logging.getLogger("desktop.service")

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


def create_app(
    captioners: Captioner | Sequence[Captioner], config: ServiceConfig | None = None
) -> Flask:
    """Build the Flask app around already-loaded captioners (one per concurrent request)."""
    config = config or ServiceConfig()
    if not isinstance(captioners, Sequence):
        captioners = [captioners]
    pool = CaptionerPool(captioners, queue_size=config.queue_size, wait_s=config.wait_s)
    policy = PathPolicy.from_folders(config.allow_paths)

    app = Flask("desktop.service")  # the app's (and its logger's) name before the split
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    provider = app.json
    assert isinstance(provider, DefaultJSONProvider)  # Flask's own unless an app replaces it
    provider.sort_keys = False  # keep "caption" first, as documented
    provider.ensure_ascii = False  # UTF-8 JSON; file names stay readable in messages
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
    if dataclasses.is_dataclass(timings) and not isinstance(timings, type):
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
