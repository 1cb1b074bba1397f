"""The local REST service, end to end: a real waitress server on a free loopback port, the real
LiteRT runtime and the shipped model, spoken to over real HTTP with ``http.client``."""

from __future__ import annotations

import errno
import gc
import http.client
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from desktop.paths import default_model_dir
from desktop.service.paths import PathPolicy, PathRefused, _refusal

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "chelsea.jpg"
MAX_BODY = 2 * 1024 * 1024
BEAM_1 = "beam=1"  # keeps the many-request tests quick; beam search is tested separately


# ---------------------------------------------------------------- path policy (no model needed)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    photo = allowed / "sub" / "photo.jpg"
    photo.write_bytes(SAMPLE.read_bytes())
    secret = outside / "secret.jpg"
    secret.write_bytes(SAMPLE.read_bytes())
    (allowed / "escape.jpg").symlink_to(secret)
    (allowed / "escape_dir").symlink_to(outside, target_is_directory=True)
    (outside / "inside.jpg").symlink_to(photo)
    return {"allowed": allowed, "outside": outside, "photo": photo, "secret": secret}


def refused(policy: PathPolicy, reference: str) -> PathRefused:
    with pytest.raises(PathRefused) as info:
        policy.open(reference, MAX_BODY)
    return info.value


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/dog.jpg",
        "https://example.com/dog.jpg",
        "HTTPS://EXAMPLE.COM/DOG.JPG",
        "ftp://example.com/dog.jpg",
        "s3://bucket/dog.jpg",
        "data:image/jpeg;base64,/9j/4AAQ",
    ],
)
def test_remote_urls_are_refused_as_offline(folders: dict[str, Path], url: str) -> None:
    error = refused(PathPolicy.from_folders([folders["allowed"]]), url)
    assert error.status == 400
    assert "offline" in error.message


def test_no_allowed_folders_refuses_every_path(folders: dict[str, Path]) -> None:
    error = refused(PathPolicy.from_folders(None), str(folders["photo"]))
    assert error.status == 403
    assert "--allow-paths" in error.message


def test_allowed_file_resolves_to_its_real_path(folders: dict[str, Path]) -> None:
    policy = PathPolicy.from_folders([folders["allowed"]])
    assert policy.resolve(str(folders["photo"])) == folders["photo"].resolve()
    assert policy.resolve(folders["photo"].as_uri()) == folders["photo"].resolve()
    # A link from outside into the allowed folder is judged by where it lands.
    assert policy.resolve(str(folders["outside"] / "inside.jpg")) == folders["photo"].resolve()


@pytest.mark.parametrize(
    "make, status",
    [
        (lambda f: str(f["secret"]), 403),  # plainly outside
        (lambda f: f"{f['allowed']}/sub/../../outside/secret.jpg", 403),  # traversal
        (lambda f: f"{f['allowed']}/../outside/does-not-exist.jpg", 403),  # no existence leak
        (lambda f: str(f["allowed"] / "escape.jpg"), 403),  # symlinked file escapes
        (lambda f: str(f["allowed"] / "escape_dir" / "secret.jpg"), 403),  # symlinked folder
        (lambda f: str(f["allowed"] / "missing.jpg"), 404),
        (lambda f: str(f["allowed"] / "sub"), 400),  # a folder
        (lambda f: "sub/photo.jpg", 400),  # relative
        (lambda f: f"{f['allowed']}/a\x00b.jpg", 400),
        (lambda f: "", 400),
        (lambda f: "file://otherhost/share/dog.jpg", 400),
    ],
)
def test_paths_outside_or_odd_are_refused(folders: dict[str, Path], make: Any, status: int) -> None:
    assert refused(PathPolicy.from_folders([folders["allowed"]]), make(folders)).status == status


def test_refusals_say_what_to_do(folders: dict[str, Path]) -> None:
    """The exact words: a listener hears them, and each names the way out."""
    policy = PathPolicy.from_folders([folders["allowed"]])
    allowed = folders["allowed"]
    expected = {
        " ": "give the photo's path, e.g. ?path=/home/me/Pictures/dog.jpg",
        "https://example.com:8443/dog.jpg": "remote URLs are not fetched (https:… given): "
        "the captioner works offline. Download the photo yourself and send its bytes with "
        "POST /caption.",
        f"{allowed}/a\x00b.jpg": "the path contains a NUL character",
        "sub/photo.jpg": "the path must be absolute, got 'sub/photo.jpg'",
        str(allowed / "sub"): f"not a regular file: {str(allowed / 'sub')!r}",
        str(allowed / "missing.jpg"): f"no such file: {str(allowed / 'missing.jpg')!r}",
        "file://otherhost/share/dog.jpg": "file URLs on another machine are not read ('otherhost')",
    }
    for reference, message in expected.items():
        error = refused(policy, reference)
        assert (error.message, str(error)) == (message, message), reference
    off = refused(PathPolicy.from_folders(None), str(folders["photo"]))
    assert off.message == (
        "reading local files is turned off; start the service with --allow-paths FOLDER, "
        "or send the photo's bytes with POST /caption"
    )


def test_file_urls_of_this_machine(folders: dict[str, Path]) -> None:
    policy = PathPolicy.from_folders([folders["allowed"]])
    photo = folders["photo"]
    assert policy.resolve(f"file://localhost{photo}") == photo.resolve()
    # A drive letter means nothing on POSIX: "/C:/…" is an absolute path outside the roots.
    if os.name != "nt":
        assert refused(policy, "file:///C:/photos/dog.jpg").status == 403


def test_allow_paths_must_be_folders(folders: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="not a folder"):
        PathPolicy.from_folders([folders["photo"]])


def test_allow_paths_are_resolved_once_each(folders: dict[str, Path]) -> None:
    allowed = folders["allowed"]
    policy = PathPolicy.from_folders([allowed, f"{allowed}/sub/..", allowed / "escape_dir"])
    assert policy.roots == (allowed.resolve(), folders["outside"].resolve())
    with pytest.raises(ValueError) as info:
        PathPolicy.from_folders([folders["photo"]])
    assert str(info.value) == f"--allow-paths {str(folders['photo'])!r} is not a folder"


@pytest.mark.parametrize(
    "reference, scheme",
    [
        ("javascript:alert(1)", "javascript"),
        ("MAILTO:me@example.com", "MAILTO"),
        ("blob:https://example.com/1234", "blob"),
        ("Data:image/png;base64,iVBOR", "Data"),
        ("svn+ssh://host/repo/a.jpg", "svn+ssh"),
        ("web.dav-2://host/a.jpg", "web.dav-2"),
    ],
)
def test_every_remote_scheme_is_named_in_the_refusal(
    folders: dict[str, Path], reference: str, scheme: str
) -> None:
    error = refused(PathPolicy.from_folders([folders["allowed"]]), reference)
    assert error.status == 400
    assert error.message.startswith(f"remote URLs are not fetched ({scheme}:… given)")


def test_a_windows_drive_or_a_one_letter_scheme_is_a_path_not_a_url(
    folders: dict[str, Path],
) -> None:
    """A "C://photos" is a drive on Windows, not a URL: on POSIX it is a relative path."""
    error = refused(PathPolicy.from_folders([folders["allowed"]]), "C://photos/dog.jpg")
    assert error.message == "the path must be absolute, got 'C://photos/dog.jpg'"


def test_file_urls_are_decoded_and_nothing_is_trimmed(folders: dict[str, Path]) -> None:
    """A path is taken as given (issue 21, finding 12): spaces around it are part of it."""
    policy = PathPolicy.from_folders([folders["allowed"]])
    spaced = folders["allowed"] / "a photo.jpg"
    spaced.write_bytes(b"JPEG?")
    assert policy.resolve(f"FILE://{spaced.as_uri()[7:].replace(' ', '%20')}") == spaced
    assert policy.open(str(spaced), 100) == b"JPEG?"
    assert refused(policy, f"  FILE://{spaced.as_uri()[7:]}").status == 400  # not absolute
    assert refused(policy, f"{spaced}  ").status == 404
    assert refused(policy, f"file://{folders['allowed']}/a%00b.jpg").message == (
        "the path contains a NUL character"
    )


def test_the_size_limit_is_exact_and_big_files_are_read_whole(folders: dict[str, Path]) -> None:
    policy = PathPolicy.from_folders([folders["allowed"]])
    big = folders["allowed"] / "big.jpg"
    data = bytes(range(256)) * (3 * 4096 + 7)  # over 3 MiB: read in several 1 MiB pieces
    big.write_bytes(data)
    assert policy.open(str(big), len(data)) == data
    too_big = refused(policy, str(big))  # over MAX_BODY (2 MiB)
    assert too_big.status == 413
    assert too_big.message == "the photo is 3.0 MB, over the 2 MB limit"
    with pytest.raises(PathRefused) as info:
        policy.open(str(big), len(data) - 1)
    assert info.value.status == 413
    limit = (len(data) - 1) / 2**20
    assert info.value.message == f"the photo is 3.0 MB, over the {limit:g} MB limit"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_no_more_than_the_limit_is_read_and_read_errors_are_words() -> None:
    """A file may hold more than its size says (it grows after the check; /proc files say
    0): reading stops at the limit all the same. A read that fails after a good open (here
    /proc/self/mem at address 0; a failing disk) is a refusal in words."""
    policy = PathPolicy.from_folders(["/proc/self"])
    status = Path("/proc/self/status").read_bytes()
    assert os.stat("/proc/self/status").st_size == 0 and len(status) > 100
    assert policy.open("/proc/self/status", 1) == b"N"
    assert policy.open("/proc/self/status", 5) == b"Name:"
    assert policy.open("/proc/self/status", 10) == status[:10]
    with pytest.raises(PathRefused) as info:
        policy.open("/proc/self/mem", 10)
    assert (info.value.status, info.value.message) == (
        400,
        "cannot read '/proc/self/mem' (input/output error)",
    )


def test_a_one_byte_file_is_read(folders: dict[str, Path]) -> None:
    one = folders["allowed"] / "one.jpg"
    one.write_bytes(b"x")
    assert PathPolicy.from_folders([folders["allowed"]]).open(str(one), 1) == b"x"


def test_a_fifo_is_refused_at_once_not_waited_on(folders: dict[str, Path]) -> None:
    fifo = folders["allowed"] / "pipe.jpg"
    os.mkfifo(fifo)
    error = refused(PathPolicy.from_folders([folders["allowed"]]), str(fifo))
    assert (error.status, error.message) == (400, f"not a regular file: {str(fifo)!r}")


def test_a_file_opened_outside_the_roots_is_refused(folders: dict[str, Path]) -> None:
    """What resolve() allowed is checked again on the opened file (a folder swapped for a link
    in between): the opened file's own path decides."""
    policy = PathPolicy.from_folders([folders["allowed"]])
    fd = os.open(folders["secret"], os.O_RDONLY)
    try:
        with pytest.raises(PathRefused) as info:
            policy._read_checked(fd, "a.jpg", MAX_BODY)
    finally:
        os.close(fd)
    assert (info.value.status, info.value.message) == (
        403,
        f"'a.jpg' {OUTSIDE}",
    )


OUTSIDE = "is outside the folders allowed with --allow-paths"
TOO_LONG = "a name in the path is too long for this computer"


@pytest.mark.parametrize(
    "number, strerror, status, message",
    [
        (errno.ENOENT, "No such file", 404, "no such file: 'x.jpg'"),
        (errno.ENOTDIR, "Not a directory", 404, "no such file: 'x.jpg'"),
        (errno.ELOOP, "Too many links", 403, f"'x.jpg' {OUTSIDE}"),
        (errno.ENAMETOOLONG, "Name too long", 400, TOO_LONG),
        (errno.EACCES, "Permission denied", 403, "permission denied: 'x.jpg'"),
        (errno.EPERM, "Not permitted", 403, "permission denied: 'x.jpg'"),
        (errno.EISDIR, "Is a directory", 400, "not a regular file: 'x.jpg'"),
        (errno.EIO, "Input/output Error", 400, "cannot read 'x.jpg' (input/output error)"),
        (errno.EIO, None, 400, "cannot read 'x.jpg' (error)"),
    ],
)
def test_each_os_error_is_a_spoken_refusal(number, strerror, status, message) -> None:
    """The OS errors a racing or odd file can cause, each turned into words for a listener
    (a root CI cannot cause EACCES, so the mapping is checked on the error itself)."""
    error = _refusal(OSError(number, strerror), "x.jpg")
    assert (error.status, error.message, str(error)) == (status, message, message)


# Names a DNS-rebinding page can give itself: they start or end like a loopback name.
HOSTILE_HOSTS = [
    "localhost.attacker.example",
    "localhostattacker.example",
    "attacker-localhost",
    "127.0.0.1.nip.io",
    "127.0.0.1.attacker.example",
    "localhost@attacker.example",
]


def test_loopback_detection() -> None:
    from desktop.service import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.4", "example.com", ""]))
    assert not any(map(is_loopback, HOSTILE_HOSTS))


# ---------------------------------------------------------------- real model, real server


@pytest.fixture(scope="module")
def model_dir() -> Path:
    found = default_model_dir()
    if not (found / "manifest.json").is_file():
        pytest.skip(f"no model bundle at {found} (models/default is built by converter/export)")
    return found


@pytest.fixture(scope="module")
def captioners(model_dir: Path) -> list[Any]:
    from desktop.service import load_captioners

    return load_captioners(model_dir, workers=2, threads=1)


@contextmanager
def running(app: Any, *, workers: int) -> Iterator[int]:
    """Serve ``app`` with waitress in a thread on a free loopback port; yield the port."""
    from waitress import wasyncore

    from desktop.service import make_server

    config = app.extensions["captioner_service"]["config"]
    server = make_server(app, "127.0.0.1", 0, config=config, workers=workers)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    try:
        yield server.effective_port
    finally:
        # Close every socket from inside the server's own loop thread (waitress runs trigger
        # thunks there); with its map empty the loop ends. Then stop the worker threads.
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError as e:  # EBADF: the loop already ended and closed its trigger
            if e.errno != errno.EBADF:
                raise
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()


@pytest.fixture(scope="module")
def served(captioners: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from desktop.service import ServiceConfig, create_app

    root = tmp_path_factory.mktemp("service")
    allowed, outside = root / "allowed", root / "outside"
    allowed.mkdir()
    outside.mkdir()
    photo = allowed / "chelsea.jpg"
    photo.write_bytes(SAMPLE.read_bytes())
    (outside / "secret.jpg").write_bytes(SAMPLE.read_bytes())
    (allowed / "escape.jpg").symlink_to(outside / "secret.jpg")
    (allowed / "notes.jpg").write_text("not a photo at all")
    config = ServiceConfig(allow_paths=(str(allowed),), max_body_bytes=MAX_BODY, queue_size=64)
    app = create_app(captioners, config)
    with running(app, workers=len(captioners)) as port:
        yield SimpleNamespace(port=port, allowed=allowed, outside=outside, photo=photo)


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        # Every answer, errors included, is JSON: a client never has to parse HTML tracebacks.
        assert headers.get_content_type() == "application/json", (status, body[:200])
        self.json = json.loads(body)


def call(
    port: int,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        # A program, not a web page: it may send any body (see test_hostile_service.py).
        headers = {"X-Captioner-Client": "tests", **(headers or {})}
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def assert_error(answer: Answer, status: int, *words: str) -> None:
    assert answer.status == status, answer.json
    assert answer.json["status"] == status
    message = answer.json["error"]
    assert isinstance(message, str) and message
    assert "Traceback" not in message
    for word in words:
        assert word.lower() in message.lower(), message


def quote(path: Path | str) -> str:
    from urllib.parse import quote as url_quote

    return url_quote(str(path), safe="")


def test_post_raw_bytes_gives_the_engines_caption(served: Any, captioners: list[Any]) -> None:
    from desktop.captioner import CaptionOptions

    answer = call(
        served.port, "POST", "/caption", SAMPLE.read_bytes(), {"Content-Type": "image/jpeg"}
    )
    assert answer.status == 200, answer.json
    body = answer.json
    assert list(body)[:4] == ["caption", "score", "words", "beam"]
    expected = captioners[0].caption(str(SAMPLE), options=CaptionOptions(with_attention=False))
    assert body["caption"] == expected.text
    assert body["words"] == list(expected.words)
    assert body["score"] == pytest.approx(float(expected.score), abs=1e-3)
    assert body["beam"] == CaptionOptions().beam_width
    assert {"encode_ms", "decode_ms", "total_ms", "queue_ms"} <= set(body["timings"])
    assert body["objects"] == [o.to_dict() for o in expected.objects]
    assert body["objects"][0]["name"] == "cat"  # chelsea
    assert body["confidence"] == pytest.approx(expected.confidence, abs=1e-3)
    assert body["unsure"] is expected.unsure
    assert "attention" not in body


def test_post_multipart_and_form_encoded_bytes(served: Any) -> None:
    photo = SAMPLE.read_bytes()
    boundary = "captioner-test-boundary"
    multipart = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="chelsea.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    by_form = call(
        served.port,
        "POST",
        f"/caption?{BEAM_1}",
        multipart,
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    # What `curl --data-binary @photo.jpg` sends: raw bytes labelled as a urlencoded form.
    by_curl = call(
        served.port,
        "POST",
        f"/caption?{BEAM_1}",
        photo,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert by_form.status == by_curl.status == 200
    assert by_form.json["caption"] == by_curl.json["caption"]
    assert by_form.json["beam"] == 1

    empty_form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
        f"--{boundary}--\r\n".encode()
    )
    assert_error(
        call(
            served.port,
            "POST",
            "/caption",
            empty_form,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        ),
        400,
        "no file",
    )


def test_attention_on_request(served: Any, captioners: list[Any]) -> None:
    answer = call(served.port, "POST", f"/caption?attention=1&{BEAM_1}", SAMPLE.read_bytes())
    assert answer.status == 200, answer.json
    grid = captioners[0].bundle.manifest["feature_grid"]
    body = answer.json
    assert body["attention_grid"] == grid
    assert len(body["attention"]) == len(body["words"])
    for step in body["attention"]:
        assert len(step) == grid[0] and all(len(row) == grid[1] for row in step)
        assert sum(map(sum, step)) == pytest.approx(1.0, abs=0.01)  # a softmax over the grid


def test_local_path_and_the_seed_endpoint(served: Any) -> None:
    posted = call(served.port, "POST", f"/caption?{BEAM_1}", SAMPLE.read_bytes())
    by_path = call(served.port, "GET", f"/caption?path={quote(served.photo)}&{BEAM_1}")
    by_wowme = call(served.port, "GET", f"/wowme?image={quote(served.photo)}&{BEAM_1}")
    by_uri = call(served.port, "GET", f"/caption?path={quote(served.photo.as_uri())}&{BEAM_1}")
    assert posted.status == by_path.status == by_wowme.status == by_uri.status == 200
    assert by_path.json["caption"] == by_wowme.json["caption"] == posted.json["caption"]
    assert by_uri.json["caption"] == posted.json["caption"]


@pytest.mark.parametrize(
    "url", ["http://example.com/dog.jpg", "https://x.org/a.png", "ftp://files.example.com/dog.jpg"]
)
def test_remote_url_is_a_clear_400(served: Any, url: str) -> None:
    assert_error(call(served.port, "GET", f"/wowme?image={quote(url)}"), 400, "offline")
    assert_error(call(served.port, "GET", f"/caption?path={quote(url)}"), 400, "offline")


def test_paths_outside_the_allowed_folder(served: Any) -> None:
    port, allowed = served.port, served.allowed
    outside = call(port, "GET", f"/caption?path={quote(served.outside / 'secret.jpg')}")
    assert_error(outside, 403, "--allow-paths")
    traversal = call(port, "GET", f"/caption?path={quote(f'{allowed}/../outside/secret.jpg')}")
    assert_error(traversal, 403, "outside")
    assert_error(call(port, "GET", f"/caption?path={quote(allowed / 'escape.jpg')}"), 403)
    assert_error(call(port, "GET", f"/caption?path={quote('/etc/passwd')}"), 403)
    assert_error(
        call(port, "GET", f"/caption?path={quote(allowed / 'missing.jpg')}"), 404, "no such file"
    )
    assert_error(call(port, "GET", "/caption"), 400, "?path=")
    assert_error(call(port, "GET", f"/caption?path=a&image={quote(served.photo)}"), 400, "both")


def test_no_allow_paths_refuses_every_local_file(captioners: list[Any]) -> None:
    from desktop.service import ServiceConfig, create_app

    app = create_app(captioners[0], ServiceConfig(allow_paths=()))
    answer = app.test_client().get("/caption", query_string={"path": str(SAMPLE)})
    assert answer.status_code == 403
    assert "--allow-paths" in answer.get_json()["error"]


def test_broken_photos_are_400_with_a_json_error(served: Any) -> None:
    photo = SAMPLE.read_bytes()
    port = served.port
    assert_error(call(port, "POST", "/caption", b"this is not a photo"), 400)
    assert_error(call(port, "POST", "/caption", photo[: len(photo) // 2]), 400)
    assert_error(call(port, "POST", "/caption", b""), 400, "no photo")
    assert_error(call(port, "GET", f"/caption?path={quote(served.allowed / 'notes.jpg')}"), 400)
    # The service is still healthy afterwards.
    assert call(port, "POST", f"/caption?{BEAM_1}", photo).status == 200


@pytest.mark.parametrize(
    "query, words",
    [
        ("beam=0", "between"),
        ("beam=11", "between"),
        ("beam=two", "whole number"),
        ("attention=maybe", "0 or 1"),
    ],
)
def test_bad_parameters(served: Any, query: str, words: str) -> None:
    assert_error(call(served.port, "POST", f"/caption?{query}", SAMPLE.read_bytes()), 400, words)


def test_oversized_body_is_413_json(served: Any) -> None:
    answer = call(served.port, "POST", "/caption", b"\xff" * (MAX_BODY + 1))
    assert_error(answer, 413, "limit")


def test_oversized_local_file_is_413_json(served: Any) -> None:
    # The same limit holds for a file given by path: it is refused before it is read.
    big = served.allowed / "huge.jpg"
    big.write_bytes(SAMPLE.read_bytes() + b"\0" * MAX_BODY)
    try:
        assert_error(call(served.port, "GET", f"/caption?path={quote(big)}"), 413, "limit")
        assert_error(call(served.port, "GET", f"/wowme?image={quote(big)}"), 413, "limit")
    finally:
        big.unlink()


def test_unknown_route_and_wrong_method(served: Any) -> None:
    assert_error(call(served.port, "GET", "/nope"), 404, "/nope")
    wrong = call(served.port, "DELETE", "/caption")
    assert_error(wrong, 405, "DELETE")
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert_error(call(served.port, "POST", "/health", b"x"), 405)


def test_health_model_and_index(served: Any, captioners: list[Any]) -> None:
    health = call(served.port, "GET", "/health")
    assert health.status == 200
    assert health.json["status"] == "ok" and health.json["workers"] == len(captioners)
    model = call(served.port, "GET", "/model")
    assert model.status == 200 and model.json == json.loads(
        json.dumps(captioners[0].bundle.manifest)
    )
    assert "POST /caption" in call(served.port, "GET", "/").json["endpoints"]


def test_foreign_host_header_is_refused(served: Any) -> None:
    # A web page that rebinds its domain to 127.0.0.1 still sends its own Host header.
    answer = call(served.port, "GET", "/model", headers={"Host": "evil.example:8081"})
    assert_error(answer, 403, "localhost")
    assert call(served.port, "GET", "/health", headers={"Host": "[::1]:8081"}).status == 200


@pytest.mark.parametrize("name", HOSTILE_HOSTS)
def test_host_names_that_only_look_local_are_refused(served: Any, name: str) -> None:
    for host in (name, f"{name}:8081"):
        assert_error(call(served.port, "GET", "/model", headers={"Host": host}), 403, "localhost")
    for host in ("localhost:8081", "127.0.0.1:8081", "localhost"):
        assert call(served.port, "GET", "/health", headers={"Host": host}).status == 200


def test_full_queue_answers_503_and_recovers(captioners: list[Any]) -> None:
    from desktop.service import ServiceConfig, create_app

    app = create_app(captioners[:1], ServiceConfig(queue_size=1))
    pool = app.extensions["captioner_service"]["pool"]
    photo = SAMPLE.read_bytes()
    with running(app, workers=1) as port:
        with pool.borrow():  # the only captioner is busy
            waiting: list[Answer] = []
            waiter = threading.Thread(
                target=lambda: waiting.append(call(port, "POST", f"/caption?{BEAM_1}", photo))
            )
            waiter.start()
            while pool.load()["waiting"] < 1:  # the waiter has taken the one waiting place
                if not waiter.is_alive():
                    pytest.fail(f"the waiting request ended early: {waiting[0].json}")
                threading.Event().wait(0.01)
            assert call(port, "GET", "/health").json["waiting"] == 1
            full = call(port, "POST", f"/caption?{BEAM_1}", photo)
            assert_error(full, 503, "busy")
            assert full.headers["Retry-After"] == "1"
        waiter.join(timeout=60)
        assert waiting[0].status == 200
        assert call(port, "POST", f"/caption?{BEAM_1}", photo).status == 200


def test_many_requests_are_all_answered_with_stable_memory(served: Any) -> None:
    psutil = pytest.importorskip("psutil")
    process = psutil.Process(os.getpid())
    photo = SAMPLE.read_bytes()
    target = f"/caption?{BEAM_1}"

    def one(_: int) -> int:
        return call(served.port, "POST", target, photo).status

    for _ in range(20):  # warm-up: allocator pools, interpreter buffers, thread stacks
        assert one(0) == 200
    with ThreadPoolExecutor(max_workers=50) as executor:
        assert list(executor.map(one, range(50))) == [200] * 50
    gc.collect()
    before = process.memory_info().rss
    statuses = [one(i) for i in range(200)]
    with ThreadPoolExecutor(max_workers=50) as executor:
        statuses += list(executor.map(one, range(50)))
    gc.collect()
    growth_mb = (process.memory_info().rss - before) / 2**20
    assert statuses == [200] * 250
    assert growth_mb < 30, f"RSS grew {growth_mb:.1f} MB over 250 requests"


def test_serve_reports_a_bad_model_and_returns_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.service import serve

    assert serve(host="127.0.0.1", port=0, model_dir=tmp_path / "no-model") == 2
    err = capsys.readouterr().err
    assert "error:" in err and "warning" not in err
    # Another host warns first (it stops at the bad model, so nothing is ever exposed).
    assert serve(host="0.0.0.0", port=0, model_dir=tmp_path / "no-model") == 2
    assert "warning: listening on 0.0.0.0" in capsys.readouterr().err


def test_serve_refuses_an_allow_path_that_is_not_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from desktop.service import serve

    assert serve(port=0, allow_paths=[tmp_path, tmp_path / "missing"]) == 2
    assert "not a folder" in capsys.readouterr().err
