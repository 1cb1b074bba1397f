"""What a screen reader receives on the real accessibility bus (AT-SPI, as Orca on Linux):
the app runs on Xvfb with a private D-Bus session and AT-SPI bus, is typed at with xdotool,
and tests/support/atspi_listener.py (system Python + pyatspi) records the events. Skipped, with the
reason, where the Debian packages are missing (they are in .ci/apt-packages.txt).

Orca 43 speaks: focus changes; a description change of the focused object; a notification
being shown; value changes of a progress bar outside a status bar. So these are asserted.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCHERS = ("/usr/libexec/at-spi-bus-launcher", "/usr/lib/at-spi2-core/at-spi-bus-launcher")
DEADLINE_S = 60.0  # bounds a hang only
XCB_LIBS = {"xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4",
            "xcb-image": "libxcb-image0", "xcb-keysyms": "libxcb-keysyms1",
            "xcb-randr": "libxcb-randr0", "xcb-render-util": "libxcb-render-util0",
            "xcb-shape": "libxcb-shape0", "xcb-xkb": "libxcb-xkb1",
            "xkbcommon-x11": "libxkbcommon-x11-0", "X11-xcb": "libx11-xcb1"}


def missing_packages() -> list[str]:
    missing = []
    for exe, package in (("Xvfb", "xvfb"), ("dbus-daemon", "dbus"), ("xdotool", "xdotool")):
        if shutil.which(exe) is None:
            missing.append(package)
    if not any(os.access(p, os.X_OK) for p in LAUNCHERS):
        missing.append("at-spi2-core")
    for lib, package in XCB_LIBS.items():  # what Qt's xcb plugin links
        if not ctypes.util.find_library(lib):
            missing.append(package)
    if not (os.access(SYSTEM_PYTHON, os.X_OK) and subprocess.run(
            [SYSTEM_PYTHON, "-c", "import pyatspi"], capture_output=True).returncode == 0):
        missing.append("python3-pyatspi")
    return missing


class Session:
    """Xvfb + D-Bus session + AT-SPI bus; every process in its own group, ended at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen] = []
        runtime = root / "xdg"
        runtime.mkdir(mode=0o700)
        (root / "home").mkdir()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("DBUS_", "QT_", "AT_SPI"))}
        self.env.update(HOME=str(root / "home"), XDG_RUNTIME_DIR=str(runtime),
                        CAPTIONER_CONFIG_DIR=str(root / "config"), NO_AT_BRIDGE="0")

    def start(self, args: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(args, env=self.env, start_new_session=True,
                                stdin=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        return proc

    def up(self) -> None:
        read, write = os.pipe()
        self.start(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x900x24",
                    "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as pipe:
            self.env["DISPLAY"] = ":" + pipe.readline().strip()
        bus = self.start(["dbus-daemon", "--session", "--nofork", "--print-address"],
                         stdout=subprocess.PIPE, text=True)
        self.env["DBUS_SESSION_BUS_ADDRESS"] = bus.stdout.readline().strip()
        launcher = next(p for p in LAUNCHERS if os.access(p, os.X_OK))
        self.start([launcher, "--launch-immediately"], stderr=subprocess.DEVNULL)

    def down(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def key(self, *keys: str) -> None:
        subprocess.run(["xdotool", "key", "--delay", "80", *keys], env=self.env, check=True,
                       timeout=30)


class Events:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0  # events before this index were matched by an earlier step

    def all(self) -> list[dict]:
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for(self, what: str, match: Callable[[dict], bool]) -> dict:
        """The first new event that ``match``es; later steps look only after it."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            events = self.all()
            for i in range(self.seen, len(events)):
                if match(events[i]):
                    self.seen = i + 1
                    return events[i]
            time.sleep(0.05)
        tail = "\n".join(map(str, self.all()[self.seen:][-40:]))
        raise AssertionError(f"no event: {what}\nevents since the last step:\n{tail}")

    def wait_for_each(self, matchers: dict[str, Callable[[dict], bool]]) -> dict[str, dict]:
        """A new event for each of ``matchers``, in any order (one deferred flush can send
        them either way round)."""
        start, found = self.seen, {}
        for what, match in matchers.items():
            self.seen = start
            found[what] = self.wait_for(what, match)
            end = self.seen
            found[what]["_index"] = end
        self.seen = max(e["_index"] for e in found.values())
        return found

    def since(self, index: int) -> list[dict]:
        return self.all()[index:]


@pytest.fixture()
def atspi(tmp_path: Path) -> Iterator[Session]:
    missing = missing_packages()
    if missing:
        pytest.skip("AT-SPI test needs the Debian packages: " + " ".join(missing))
    session = Session(tmp_path)
    try:
        session.up()
        yield session
    finally:
        session.down()


def focused(role: str, name: str) -> Callable[[dict], bool]:
    return lambda e: (e["type"] == "object:state-changed:focused" and e["detail1"] == 1
                      and e["role"] == role and e["name"] == name)


def notification(start: str) -> Callable[[dict], bool]:
    return lambda e: (e["type"] == "object:state-changed:showing" and e["detail1"] == 1
                      and e["role"] == "notification" and start in e["name"])


def progress_hidden(event: dict) -> bool:
    return (event["type"] == "object:state-changed:showing" and event["detail1"] == 0
            and event["role"] == "progress bar")


def wait_until_done(events: Events) -> None:
    """The run ends (its progress bar goes), then "Done" is shown. (A listener reads a name
    when it handles the event, so an earlier notification can already carry "Done".)"""
    events.wait_for("the progress bar hidden", progress_hidden)
    events.wait_for("Done notification", notification("Done: 4 captioned"))


@pytest.mark.slow
def test_screen_reader_hears_focus_captions_and_results(atspi: Session, tmp_path: Path,
                                                        samples: list[Path],
                                                        default_model_dir: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in samples:
        shutil.copy(photo, folder / photo.name)
    log = tmp_path / "events.jsonl"
    listener = atspi.start([SYSTEM_PYTHON, str(REPO / "tests" / "support" / "atspi_listener.py"),
                            "captioner", str(log)])
    deadline = time.monotonic() + DEADLINE_S
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert listener.poll() is None and time.monotonic() < deadline, "listener did not start"
        time.sleep(0.05)
    time.sleep(0.5)  # the registry hands the subscriptions to applications as they start
    atspi.env.update(QT_QPA_PLATFORM="xcb", QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
                     QT_ACCESSIBILITY="1", PYTHONPATH=str(REPO))
    app_log = tmp_path / "app.log"
    app = atspi.start([sys.executable, "-X", "faulthandler", "-m", "desktop.cli", "gui",
                       str(folder), "--model", str(default_model_dir)],
                      cwd=REPO, stdout=subprocess.DEVNULL, stderr=app_log.open("w"))
    events = Events(log)
    names = sorted(p.name for p in samples)
    try:
        # A job finishing is a notification shown (Orca speaks it; it ignores announcements).
        wait_until_done(events)
        subprocess.run(["xdotool", "search", "--sync", "--name", "Captioner", "windowfocus"],
                       env=atspi.env, check=True, timeout=30, capture_output=True)
        # Focus moves along the list: the item gets the focus, named by its file.
        atspi.key("ctrl+1", "Down")
        events.wait_for(f"focus on {names[1]}", focused("list item", names[1]))
        # A caption arriving for the focused photo: its description changes to the caption.
        atspi.key("F9")
        arrived = events.wait_for_each({
            "caption arriving for the focused item": lambda e: (
                e["type"] == "object:property-change:accessible-description"
                and e["role"] == "list item" and e["name"] == names[1]),
            "the progress bar hidden": progress_hidden,
            "Done notification": notification("Done: 4 captioned"),
        })["caption arriving for the focused item"]
        assert arrived["data"] and arrived["data"].endswith(".")
        # Alt+Down from the caption field: the new photo is said, and no menu opens.
        atspi.key("ctrl+3")
        events.wait_for("focus on the caption", focused("text", "Caption"))
        mark = events.seen
        atspi.key("alt+Down")
        told = events.wait_for("the next photo said", notification(f"{names[2]}: "))
        assert told["name"].endswith(".")
        atspi.key("F8")  # the status on demand
        events.wait_for("F8 says the status again", notification(f"{names[2]}: "))
        assert not [e for e in events.since(mark)
                    if e["type"] == "object:state-changed:focused" and e["detail1"] == 1
                    and e["role"] in ("menu", "menu bar", "menu item")], "a menu took focus"
        # One heat-map step: described once (it used to be twice).
        atspi.key("ctrl+2")
        events.wait_for("focus on the photo", focused("filler", "Photo preview"))
        mark = events.seen
        atspi.key("Right")
        events.wait_for("heat-map step", lambda e: (
            e["type"] == "object:property-change:accessible-description"
            and (e["data"] or "").startswith("Word 1 of")))
        time.sleep(1.0)  # a second report would come at once
        steps = [e for e in events.since(mark)
                 if e["type"] == "object:property-change:accessible-description"
                 and (e["data"] or "").startswith("Word 1 of")]
        assert len(steps) == 1, steps
        assert app.poll() is None, "the app ended"
        # Quitting with the accessibility bridge on ends cleanly (the status line's
        # accessibility interface once crashed the process as the window was destroyed).
        atspi.key("ctrl+q")
        assert app.wait(timeout=DEADLINE_S) == 0
    finally:
        if app.poll() is None:
            app.terminate()
        app.wait(timeout=30)
        # What the app said, shown with a failure.
        print(app_log.read_text(errors="replace")[-5000:], file=sys.stderr)


def test_screen_reader_running_follows_the_atspi_bus(atspi: Session) -> None:
    """Automatic reading defers to a screen reader: the app sees Orca's IsEnabled switch."""
    if shutil.which("dbus-send") is None:
        pytest.skip("needs dbus-send (Debian package dbus-bin)")
    probe = ("from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]); "
             "from desktop.gui.screen_reader import screen_reader_running; "
             "print(screen_reader_running())")
    env = {**atspi.env, "PYTHONPATH": str(REPO)}

    def running() -> str:
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    def set_enabled(on: bool) -> None:
        subprocess.run(["dbus-send", "--session", "--print-reply", "--dest=org.a11y.Bus",
                        "/org/a11y/bus", "org.freedesktop.DBus.Properties.Set",
                        "string:org.a11y.Status", "string:IsEnabled",
                        f"variant:boolean:{'true' if on else 'false'}"],
                       env=atspi.env, check=True, capture_output=True, timeout=30)

    set_enabled(False)
    assert running() == "False"
    set_enabled(True)  # what Orca does when it starts
    assert running() == "True"


def start_app(atspi: Session, tmp_path: Path, folder: Path, model: Path,
              **env: str) -> tuple[subprocess.Popen, Events, Path]:
    """The listener, then the app on ``folder``; returns the app, its events, its log."""
    log = tmp_path / "events.jsonl"
    listener = atspi.start([SYSTEM_PYTHON, str(REPO / "tests" / "support" / "atspi_listener.py"),
                            "captioner", str(log)])
    deadline = time.monotonic() + DEADLINE_S
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert listener.poll() is None and time.monotonic() < deadline, "listener did not start"
        time.sleep(0.05)
    time.sleep(0.5)  # the registry hands the subscriptions to applications as they start
    atspi.env.update(QT_QPA_PLATFORM="xcb", QT_LINUX_ACCESSIBILITY_ALWAYS_ON="1",
                     QT_ACCESSIBILITY="1", PYTHONPATH=str(REPO), **env)
    app_log = tmp_path / "app.log"
    app = atspi.start([sys.executable, "-X", "faulthandler", "-m", "desktop.cli", "gui",
                       str(folder), "--model", str(model)],
                      cwd=REPO, stdout=subprocess.DEVNULL, stderr=app_log.open("w"))
    return app, Events(log), app_log


def settled(events: Events, seconds: float = 1.5) -> list[dict]:
    """The events of the last step and whatever follows within ``seconds``."""
    start = events.seen
    time.sleep(seconds)
    found = events.since(start)
    events.seen = start + len(found)
    return found


def on_the_list(event: dict) -> bool:
    """The photo list or one of its items has the focus (which one Qt reports depends on
    where the focus came from)."""
    return (event["type"] == "object:state-changed:focused" and event["detail1"] == 1
            and event["role"] in ("list", "list item"))


def last_focus(found: list[dict]) -> dict | None:
    gained = [e for e in found if e["type"] == "object:state-changed:focused" and e["detail1"]]
    return gained[-1] if gained else None


@pytest.mark.slow
def test_menus_choices_states_and_confirmations_on_the_bus(
        atspi: Session, tmp_path: Path, samples: list[Path], default_model_dir: Path) -> None:
    """Issue 22: F10 menus keep the focus in the open menu, a combo box's new value and the
    Reviewed box's state reach the bus, one caption event per arrival, the export
    confirmation comes before the window's re-read, and the app's speech never sends
    speech-dispatcher a CANCEL that is not its own."""
    from tests.support import fake_speechd

    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in samples:
        shutil.copy(photo, folder / photo.name)
    daemon = fake_speechd.start(tmp_path)
    app, events, app_log = start_app(atspi, tmp_path, folder, default_model_dir,
                                     SPEECHD_ADDRESS=daemon.address)
    names = sorted(p.name for p in samples)
    try:
        wait_until_done(events)
        subprocess.run(["xdotool", "search", "--sync", "--name", "Captioner", "windowfocus"],
                       env=atspi.env, check=True, timeout=30, capture_output=True)
        atspi.key("ctrl+1", "Down")
        events.wait_for(f"focus on {names[1]}", focused("list item", names[1]))
        # (1) F10, Down, Right, Left: the focus stays in the menus, nothing re-announced.
        atspi.key("F10")
        events.wait_for("File focused", focused("menu item", "File"))
        atspi.key("Down")
        events.wait_for("Open Folder… focused", focused("menu item", "Open Folder\u2026"))
        for key, menu_item in (("Right", "Copy Caption"), ("Right", "Caption Again"),
                               ("Left", "Copy Caption")):
            atspi.key(key)
            found = settled(events)
            focus = last_focus(found)
            assert focus is not None and focus["role"] == "menu item", (key, found)
            assert focus["name"] == menu_item, (key, found)
            assert not [e for e in found if e["role"] == "notification"], found
        atspi.key("Escape")  # the menu closes; its title keeps the focus
        events.wait_for("Edit focused", focused("menu item", "Edit"))
        atspi.key("Escape")
        events.wait_for("back on the list", focused("list", "Photos"))
        # (4) Alt+W ticks Reviewed, the caption field says so, and no menu opens.
        mark = events.seen
        atspi.key("alt+w")
        events.wait_for_each({
            "Reviewed ticked": lambda e: (
                e["type"] == "object:state-changed:checked" and e["name"] == "Reviewed"
                and e["detail1"] == 1),
            "the field says it": lambda e: (
                e["type"] == "object:property-change:accessible-description"
                and e["name"] == "Caption" and (e["data"] or "").startswith("Reviewed.")),
        })
        time.sleep(1.0)
        assert not [e for e in events.since(mark) if e["role"] in ("menu", "menu item")
                    and e["type"] == "object:state-changed:focused"], "a menu took focus"
        # (5) one caption event per arrival.
        atspi.key("ctrl+1")
        events.wait_for("back on the list", on_the_list)
        mark = events.seen
        atspi.key("F9")
        events.wait_for("Done notification", notification("Done: 4 captioned"))
        time.sleep(3.0)  # a told caption waits until the reader has surely read the item
        told = [e for e in events.since(mark)
                if e["type"] == "object:property-change:accessible-description"
                and e["role"] == "list item"]
        assert len(told) <= 1, told
        # (2) a combo box's new value: Settings, Alt+V (Voice), Down.
        atspi.key("ctrl+comma")
        events.wait_for("Settings open", lambda e: e["type"] == "window:activate"
                        and e["name"] == "Settings")
        atspi.key("alt+v")
        events.wait_for("Voice focused", lambda e: e["type"] == "object:state-changed:focused"
                        and e["detail1"] == 1 and e["role"] == "combo box")
        atspi.key("Down")
        changed = events.wait_for("the new voice said", lambda e: (
            e["type"] == "object:property-change:accessible-description"
            and e["role"] == "combo box" and (e["data"] or "").startswith("English")))
        assert "voice of speech-dispatcher" in changed["data"]
        atspi.key("Escape")
        events.wait_for("Settings closed", lambda e: e["type"] == "object:state-changed:showing"
                        and e["detail1"] == 0 and e["name"] == "Reading aloud")
        time.sleep(0.5)
        # (No window manager here gives the window the focus back: xdotool does.)
        subprocess.run(["xdotool", "search", "--sync", "--name", "Captioner", "windowfocus"],
                       env=atspi.env, check=True, timeout=30, capture_output=True)
        # (6) the export confirmation comes before the window is read again.
        atspi.key("ctrl+e")
        events.wait_for("export dialog", lambda e: e["type"] == "window:activate"
                        and e["name"] == "Export captions")
        mark = events.seen
        atspi.key("Return")
        events.wait_for("the export confirmed", notification("Exported 4 captions to"))
        time.sleep(1.0)
        after = events.since(mark)
        said = [i for i, e in enumerate(after) if e["role"] == "notification"
                and e["type"] == "object:state-changed:showing"
                and e["name"].startswith("Exported 4 captions to photos-captions.csv")]
        back = [i for i, e in enumerate(after) if e["type"] == "window:activate"
                and e["name"] != "Export captions"]
        assert said and (not back or said[0] < back[0]), after
        # (7) F5, Shift+F5, quit: the app cancels only its own speech.
        subprocess.run(["xdotool", "search", "--sync", "--name", "Captioner", "windowfocus"],
                       env=atspi.env, check=True, timeout=30, capture_output=True)
        atspi.key("F5")
        time.sleep(0.3)
        atspi.key("shift+F5", "ctrl+q")
        assert app.wait(timeout=DEADLINE_S) == 0
        commands = daemon.commands
        assert any(c == "SPEAK" for c in commands), commands
        assert {c for c in commands if c.upper().startswith("CANCEL")} <= {"CANCEL SELF"}
        assert "SET SELF LANGUAGE en" in commands  # the session's locale is C or English
    finally:
        if app.poll() is None:
            app.terminate()
        app.wait(timeout=30)
        daemon.close()
        print(app_log.read_text(errors="replace")[-5000:], file=sys.stderr)
