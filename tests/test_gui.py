"""The desktop app on the real runtime and model, driven headless (Qt's offscreen platform).

No qtbot: events are pumped with QApplication.processEvents until a condition holds or a
generous deadline passes (the deadline only bounds a hang; nothing here asserts speed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

# Before any Qt import: no display needed.
os.environ["QT_QPA_PLATFORM"] = "offscreen"

try:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QAccessible
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
except ImportError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"PySide6 cannot be loaded here: {exc}", allow_module_level=True)

from desktop import speech as speech_mod
from desktop.gui import heatmap
from desktop.gui.main_window import MainWindow
from desktop.gui.photo_model import Status
from desktop.settings import Settings
from desktop.speech import Speech

REPO = Path(__file__).resolve().parent.parent
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def qapp() -> QApplication:
    app = QApplication.instance() or QApplication([])
    return app  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read or write the real user's settings."""
    cfg = tmp_path / "config"
    monkeypatch.setenv("CAPTIONER_CONFIG_DIR", str(cfg))
    return cfg


def pump_until(condition: Callable[[], bool], seconds: float = DEADLINE_S) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if condition():
            return True
        time.sleep(0.005)
    QApplication.processEvents()
    return condition()


def test_speech_engine() -> Speech:
    """A real engine that makes no noise in CI: espeak-ng (no sound card there), else Qt's
    silent mock engine."""
    if speech_mod.espeak_executable():
        return Speech(engine="espeak-ng")
    if "mock" in speech_mod.qt_engines():
        return Speech(engine="qt:mock")
    return Speech(engine="none")


test_speech_engine.__test__ = False  # a helper, not a test


@pytest.fixture()
def make_window(qapp: QApplication, captioner) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def make(settings: Settings | None = None, *, share_captioner: bool = True,
             **kwargs) -> MainWindow:
        window = MainWindow(settings or Settings(), speech=test_speech_engine(),
                            captioner=captioner if share_captioner else None,
                            save_settings=False, **kwargs)
        window.resize(1200, 780)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
        window.deleteLater()
    QApplication.processEvents()


@pytest.fixture()
def photo_folder(tmp_path: Path, samples: list[Path]) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in samples:
        shutil.copy(photo, folder / photo.name)
    return folder


def open_and_wait(window: MainWindow, folder: Path) -> None:
    window.open_folder(folder)
    assert pump_until(lambda: not window.is_busy()), "captioning did not finish"
    QApplication.processEvents()


def accessible_items(window: MainWindow) -> list[tuple[str, str]]:
    """(name, description) of each list item, as a screen reader gets them."""
    iface = QAccessible.queryAccessibleInterface(window.list)
    assert iface is not None
    return [
        (iface.child(i).text(QAccessible.Text.Name),
         iface.child(i).text(QAccessible.Text.Description))
        for i in range(iface.childCount())
    ]


def test_open_folder_captions_every_photo_and_exposes_them_to_screen_readers(
        make_window, photo_folder: Path, samples: list[Path]) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    records = window.model.records
    assert [r.name for r in records] == sorted(p.name for p in samples)
    assert all(r.status is Status.DONE for r in records)
    for record in records:
        assert record.caption and record.caption[0].isupper() and record.caption.endswith(".")
        assert record.result.attention.shape[0] == len(record.result.words)
    # Model data and the accessibility tree agree: name = file, description = the caption as
    # read aloud ("Not sure: …" when the model is unsure, then "I see: …").
    for row, record in enumerate(records):
        index = window.model.index(row)
        assert index.data(Qt.ItemDataRole.AccessibleDescriptionRole) == record.spoken
        assert index.data(Qt.ItemDataRole.AccessibleTextRole) == record.name
    assert accessible_items(window) == [(r.name, r.spoken) for r in records]
    chelsea = next(r for r in records if r.name == "chelsea.jpg")
    assert chelsea.result.objects[0].name == "cat" and chelsea.spoken.endswith(" I see: cat.")
    # Whichever sample the model is unsure of is never read as a plain fact.
    unsure = [r for r in records if r.result.unsure]
    assert unsure, "the samples include photos the model cannot describe (rocket, coffee)"
    assert all(r.spoken.startswith("Not sure: ") for r in unsure)
    window.select_row(records.index(chelsea))
    assert window.inspector.objects.isVisible()
    assert "I see: cat (" in window.inspector.objects.text()
    window.select_row(records.index(unsure[0]))
    assert "Not sure" in window.inspector.objects.text()
    window.select_row(records.index(chelsea))
    assert "confidence" in window.inspector.score.text()
    window.select_row(0)
    # The selected photo is shown in the inspector with its caption and score.
    assert window.current_row() == 0
    assert window.inspector.caption.toPlainText() == records[0].caption
    assert window.inspector.score.text().startswith("Score ")
    assert window.inspector.view.has_photo
    assert not window.progress.isVisible()
    assert "Done: 4 captioned" in window.announcer.last


def test_keyboard_only_flow(make_window, photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    window.activateWindow()
    assert QTest.qWaitForWindowActive(window)
    window.list.setFocus()
    assert pump_until(lambda: QApplication.focusWidget() is window.list)

    # Arrows change the selection, and the inspector follows.
    QTest.keyClick(window.list, Qt.Key.Key_Down)
    assert window.current_row() == 1
    second = window.model.record(1)
    assert window.inspector.title.text() == second.name
    assert window.inspector.caption.toPlainText() == second.caption

    # Tab moves focus from the list to the photo; arrows step through the words' heat maps.
    QTest.keyClick(window.list, Qt.Key.Key_Tab)
    view = window.inspector.view
    assert QApplication.focusWidget() is view
    QTest.keyClick(view, Qt.Key.Key_Right)
    QTest.keyClick(view, Qt.Key.Key_Right)
    words = second.result.words
    assert view.word == 1 and window.inspector.words.current == 1
    expected_place = heatmap.describe_focus(second.result.attention[1])
    assert f"'{words[1]}'" in view.accessibleDescription()
    assert expected_place in view.accessibleDescription()
    QTest.keyClick(view, Qt.Key.Key_Home)
    assert view.word is None

    # Tab on: the word strip (one stop), then the caption, which can be edited.
    QTest.keyClick(view, Qt.Key.Key_Tab)
    focused = QApplication.focusWidget()
    assert focused in window.inspector.words.buttons()
    QTest.keyClick(focused, Qt.Key.Key_End)
    assert window.inspector.words.current == len(words) - 1
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.inspector.caption
    caption_edit = window.inspector.caption
    caption_edit.selectAll()
    QTest.keyClicks(caption_edit, "Two cups on a wooden table.")
    record = window.model.record(1)
    assert record.caption == "Two cups on a wooden table."
    assert record.edited and record.reviewed
    # The user's words are never marked unsure; what the classifier sees still follows.
    edited = "Two cups on a wooden table. I see: cat."
    assert record.spoken == edited
    # ... and a screen reader hears that they are the user's (issue 22).
    assert window.model.index(1).data(Qt.ItemDataRole.AccessibleDescriptionRole) == (
        f"{edited} Edited by you, reviewed.")

    # The read-aloud shortcut speaks the (edited) caption of the selected photo.
    if not window.speech.available:
        pytest.skip("no speech engine here (espeak-ng missing and no Qt engine)")
    spoken: list[str] = []
    window.speech.started.connect(spoken.append)
    QTest.keyClick(caption_edit, Qt.Key.Key_F5)
    assert spoken == [edited]
    assert window.speech.last_text == edited

    # Alt+Down goes to the next photo from inside the caption field.
    QTest.keyClick(caption_edit, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert window.current_row() == 2


def test_cancel_keeps_finished_captions(make_window, tmp_path: Path,
                                        samples: list[Path]) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(4):
        for photo in samples:
            shutil.copy(photo, folder / f"{i}-{photo.name}")
    total = 4 * len(samples)
    window = make_window()

    def cancel_on_first_result(worker) -> None:
        # Direct: cancel from the worker thread the moment the first caption exists
        # (CaptionWorker.cancel only sets a threading.Event).
        worker.result.connect(lambda *_: worker.cancel(), Qt.ConnectionType.DirectConnection)

    window.captioning_started.connect(cancel_on_first_result)
    open_and_wait(window, folder)
    done = [r for r in window.model.records if r.status is Status.DONE]
    skipped = [r for r in window.model.records if r.status is Status.SKIPPED]
    assert 1 <= len(done) < total
    assert len(done) + len(skipped) == total
    assert all(r.caption for r in done)
    assert all(window.model.index(window.model.row_of(r.path)).data(
        Qt.ItemDataRole.AccessibleDescriptionRole) == r.spoken for r in done)
    assert all("cancelled" in r.description for r in skipped)
    assert window.announcer.last.startswith("Cancelled")

    # Caption again finishes the rest without touching what was done.
    first_done = {r.path: r.result for r in done}
    window.captioning_started.disconnect(cancel_on_first_result)
    window.caption_again()
    assert pump_until(lambda: not window.is_busy())
    assert window.model.count(Status.DONE) == total
    assert all(window.model.record(window.model.row_of(p)).caption for p in first_done)


def test_unreadable_photo_shows_an_error_row(make_window, tmp_path: Path,
                                             samples: list[Path]) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(samples[0], folder / "a-good.jpg")
    (folder / "b-broken.jpg").write_bytes(b"this is not a jpeg")
    (folder / "c-empty.png").write_bytes(b"")
    window = make_window()
    open_and_wait(window, folder)
    good, broken, empty = window.model.records
    assert good.status is Status.DONE and good.caption
    for bad in (broken, empty):
        assert bad.status is Status.FAILED
        assert bad.error  # the reason, e.g. "not an image, or a format Pillow cannot read"
        assert bad.description == f"No caption: {bad.error}"
    # The row's accessible description says why; selecting it shows the reason.
    assert accessible_items(window)[1] == ("b-broken.jpg", broken.description)
    window.select_row(1)
    QApplication.processEvents()
    assert window.inspector.error.isVisible()
    assert broken.error in window.inspector.error.text()
    assert "could not be read" in window.announcer.last


def test_bad_model_is_reported_in_the_window(make_window, photo_folder: Path,
                                             tmp_path: Path) -> None:
    empty_model = tmp_path / "not-a-model"
    empty_model.mkdir()
    window = make_window(Settings(model_dir=str(empty_model)), share_captioner=False)
    open_and_wait(window, photo_folder)
    assert window.message_bar.isVisible()
    assert "Could not load the model" in window.message_bar.text.text()
    assert str(empty_model) in window.message_bar.text.text()
    assert all(r.status is Status.SKIPPED for r in window.model.records)
    assert "model could not be loaded" in window.model.records[0].description
    # Still usable: selection and the inspector work.
    window.select_row(2)
    assert window.inspector.title.text() == window.model.record(2).name


def test_delegate_that_will_not_load_is_reported(make_window, photo_folder: Path,
                                                 tmp_path: Path, default_model_dir) -> None:
    fake = tmp_path / "libnot_a_delegate.so"
    fake.write_bytes(b"\x7fELF but not really")
    window = make_window(Settings(model_dir=str(default_model_dir), delegate=str(fake)),
                         share_captioner=False)
    with pytest.warns(RuntimeWarning):
        open_and_wait(window, photo_folder)
    assert window.message_bar.isVisible()
    assert str(fake) in window.message_bar.text.text()
    # The runtime fell back to the CPU, so the photos are still captioned.
    assert window.model.count(Status.DONE) == 4


def test_export_and_xmp(make_window, photo_folder: Path, tmp_path: Path) -> None:
    import json

    from desktop import xmp

    window = make_window()
    open_and_wait(window, photo_folder)
    window.select_row(0)
    window.inspector.caption.setPlainText("An astronaut in an orange suit.")
    out = tmp_path / "out" / "captions.json"
    out.parent.mkdir()
    assert window.export_to(out)
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert [Path(r["path"]).name for r in rows] == [r.name for r in window.model.records]
    assert rows[0]["caption"] == "An astronaut in an orange suit." and rows[0]["score"] is None
    assert rows[1]["caption"] == window.model.record(1).caption
    # Rounded to 4 decimals, as `captioner caption` writes it; objects and confidence too.
    chelsea = window.model.record(1).result
    assert rows[1]["score"] == pytest.approx(chelsea.score, abs=1e-4)
    assert rows[1]["objects"] == [o.to_dict() for o in chelsea.objects]
    assert rows[1]["confidence"] == pytest.approx(chelsea.confidence, abs=1e-4)
    assert rows[0]["confidence"] is None  # edited: the confidence was the model's sentence's
    # An unknown extension is refused, visibly, and nothing is written.
    assert not window.export_to(tmp_path / "out" / "captions.xlsx")
    assert "Could not export" in window.message_bar.text.text()
    assert not (tmp_path / "out" / "captions.xlsx").exists()

    window.write_sidecars()
    first = window.model.record(0)
    assert xmp.get_description(xmp.sidecar_path(first.path)) == "An astronaut in an orange suit."
    assert "Wrote 4 XMP sidecars" in window.announcer.last


def test_reviewed_captions_survive_caption_again(make_window, photo_folder: Path) -> None:
    window = make_window()
    open_and_wait(window, photo_folder)
    window.select_row(3)
    window.inspector.caption.setPlainText("A rocket lifts off at night.")
    window.caption_again()
    assert pump_until(lambda: not window.is_busy())
    assert window.model.record(3).caption == "A rocket lifts off at night."
    assert window.model.record(3).reviewed


def test_high_contrast_switches_palette(make_window, qapp: QApplication) -> None:
    window = make_window()
    window.acts["contrast"].trigger()
    assert window.settings.high_contrast
    assert qapp.palette().color(qapp.palette().ColorRole.Window).name() == "#000000"
    window.acts["contrast"].trigger()
    assert not window.settings.high_contrast
    assert qapp.palette().color(qapp.palette().ColorRole.Window).name() != "#000000"


def test_every_control_has_an_accessible_name(make_window, photo_folder: Path) -> None:
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractSlider,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QPlainTextEdit,
        QScrollBar,
        QWidget,
    )

    from desktop.gui.settings_dialog import SettingsDialog

    window = make_window()
    open_and_wait(window, photo_folder)
    dialog = SettingsDialog(window.settings, window.speech.voices(),
                            default_model="models/default",
                            speech_backend=window.speech.backend, parent=window)
    kinds = (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox, QLineEdit,
             QPlainTextEdit)
    unnamed = []
    for root in (window, dialog):
        for widget in root.findChildren(QWidget):
            # Scroll bars are named by their role; Qt's internals (object names qt_*, the
            # line edits' clear buttons) are Qt's business.
            if (not isinstance(widget, kinds) or isinstance(widget, QScrollBar)
                    or widget.objectName().startswith("qt_")
                    or widget.metaObject().className() == "QLineEditIconButton"):
                continue
            iface = QAccessible.queryAccessibleInterface(widget)
            if not iface.text(QAccessible.Text.Name).strip():
                unnamed.append(
                    f"{widget.metaObject().className()} in {type(widget.parent()).__name__}")
    dialog.deleteLater()
    assert unnamed == [], "\n".join(unnamed)


def test_screenshot_of_a_scripted_run_is_not_blank(tmp_path: Path, default_model_dir,
                                                   samples) -> None:
    from PIL import Image

    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "CAPTIONER_CONFIG_DIR": str(tmp_path / "cfg")}
    done = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "gui", str(REPO / "samples"),
         "--model", str(default_model_dir), "--screenshot", str(shot), "--exit-when-done"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 20  # photos, text and a heat map, not a flat fill
    assert len(np.unique(image.reshape(-1, 3)[::7], axis=0)) > 1000


def test_photos_and_folders_given_at_start_are_opened(qapp: QApplication, photo_folder: Path,
                                                     tmp_path: Path, private_config: Path,
                                                     default_model_dir: Path) -> None:
    """``captioner gui a.jpg b.jpg`` (a file manager's Open With, through the menu entry's
    ``%F``) shows those photos, not the rest of their folder; a folder among them is listed;
    a photo named twice is shown once."""
    from desktop import settings as settings_store
    from desktop.gui.app import open_window

    chosen = sorted(photo_folder.iterdir())[:2][::-1]  # not in the folder's order
    assert len(list(photo_folder.iterdir())) > len(chosen)  # the folder holds others
    more = tmp_path / "more"
    more.mkdir()
    shutil.copy(chosen[0], more / "copy.jpg")
    window = open_window([*map(str, chosen), more, chosen[0]], model_dir=default_model_dir)
    try:
        assert pump_until(lambda: window.model.rowCount() > 0 and not window.is_busy())
        records = window.model.records
        assert [Path(r.path) for r in records] == [*chosen, more / "copy.jpg"]
        assert [r.status for r in records] == [Status.DONE] * 3, [r.error for r in records]
        # The copy in the other folder is the same photo: the same caption.
        assert records[2].result.text == records[0].result.text
        # The folder remembered for the next Open is the first photo's.
        saved = settings_store.load_with_problems()[0]
        assert saved.last_folder == str(photo_folder.resolve())
    finally:
        window.close()
        window.deleteLater()
        QApplication.processEvents()


def test_auto_read_as_captions_arrive_and_on_selection(make_window, photo_folder: Path) -> None:
    window = make_window(Settings(auto_read="arrival"))
    if not window.speech.available:
        pytest.skip("no speech engine here (espeak-ng missing and no Qt engine)")
    spoken: list[str] = []
    window.speech.started.connect(spoken.append)
    open_and_wait(window, photo_folder)
    captions = [r.spoken for r in window.model.records]
    # Queued, so each caption is read in full, in order (with its unsure marker and objects).
    assert pump_until(lambda: len(spoken) == len(captions) and not window.speech.speaking)
    assert spoken == captions

    window.set_auto_read("selection")
    spoken.clear()
    window.select_row(2)
    assert spoken == [captions[2]]


def test_settings_dialog_round_trip(make_window) -> None:
    from desktop.gui.settings_dialog import SettingsDialog
    from desktop.speech import Voice

    window = make_window()
    original = Settings(beam_width=4, voice="en-gb", rate=0.3, threads=2, accelerator="auto")
    dialog = SettingsDialog(original, [Voice("en-gb", "English (en-gb)")],
                            default_model="models/default", speech_backend="test", parent=window)
    assert dialog.settings() == original  # nothing changed → the same settings
    dialog.accelerator.setCurrentIndex(dialog.accelerator.count() - 1)  # the delegate
    dialog.delegate.edit.setText("/opt/lib/libgpu_delegate.so")
    dialog.beam.setValue(6)
    dialog.auto_read.setCurrentIndex(dialog.auto_read.findData("arrival"))
    dialog.rate.setValue(-5)
    dialog.high_contrast.setChecked(True)
    edited = dialog.settings()
    assert edited == original.replace(delegate="/opt/lib/libgpu_delegate.so", threads=None,
                                      beam_width=6, auto_read="arrival", rate=-0.5,
                                      high_contrast=True)
    dialog.deleteLater()
    # Applying them takes effect at once where it can (palette, voice rate).
    window.apply_settings(edited)
    assert window.settings == edited and window.theme.high_contrast
    assert window.speech.rate == -0.5
    window.apply_settings(original)


def test_dropping_a_folder_opens_it(make_window, photo_folder: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_folder))])
    event = QDropEvent(QPointF(400, 300), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert event.isAccepted()
    assert pump_until(lambda: not window.is_busy())
    assert window.model.rowCount() == 4
    assert window.model.count(Status.DONE) == 4


def test_heatmap_follows_the_attention_peak() -> None:
    cells = np.full((7, 7), 0.01, dtype=np.float32)
    cells[6, 0] = 1.0  # bottom-left cell
    photo = np.full((140, 210, 3), 128, dtype=np.uint8)
    weight = heatmap.upsample(cells, (210, 140))
    assert weight.shape == (140, 210)
    assert weight.max() == pytest.approx(1.0) and weight.min() >= 0.0
    assert np.unravel_index(np.argmax(weight), weight.shape)[0] > 100  # near the bottom
    out = heatmap.overlay(photo, cells)
    assert out.shape == photo.shape and out.dtype == np.uint8
    # The peak is brighter than the far corner, which is dimmed.
    assert out[135, 5].mean() > out[5, 205].mean()
    assert heatmap.describe_focus(cells) == "at the bottom left"
    assert heatmap.describe_focus(np.ones((7, 7))) == "spread across the whole photo"
    with pytest.raises(ValueError):
        heatmap.upsample(np.ones(49), (10, 10))


def test_scripted_run_with_a_bad_model_exits_2_and_still_shows_why(tmp_path: Path) -> None:
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "CAPTIONER_CONFIG_DIR": str(tmp_path / "cfg")}
    done = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "gui", str(REPO / "samples"),
         "--model", str(tmp_path / "missing-model"), "--screenshot", str(shot),
         "--exit-when-done"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert shot.is_file()


def test_about_shows_the_models_parts_and_licences(make_window):
    window = make_window()
    text = window._licences()
    assert "ssd_mobilenet_v2_coco_2018_03_29" in text and "Apache License" in text
