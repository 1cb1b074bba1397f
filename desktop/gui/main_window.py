"""The main window: photo list on the left, the selected photo on the right.

Long work happens off the UI thread (``CaptionWorker``, ``ThumbnailLoader``). Every problem
(bad model, delegate that will not load, unreadable photo, export failure) is shown in the
window (message bar, error row, status bar) and announced to screen readers; none ends the app.

Why one module of this size: the window's slots are what the action table (actions.py) and
the menus (menus.py) call; each slot is short, and they share the window's state (the
selected photo, the worker, the speech queue). Widgets, the inspector, search, the message
bar and the scripted run live in their own modules.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop import BundleError
from desktop import settings as settings_store
from desktop.bundle import load_bundle
from desktop.captioner import Captioner, CaptionResult
from desktop.gui import export
from desktop.gui.actions import make_actions, make_auto_read_actions
from desktop.gui.alt_keys import AltReleaseGuard, AltShortcutWatcher
from desktop.gui.announcer import Announcer, StatusNotice
from desktop.gui.choices import say_choice
from desktop.gui.inspector import Inspector
from desktop.gui.library_link import LibraryLink, bundle_id
from desktop.gui.menu_focus import MenuFocusGuard
from desktop.gui.menus import READ_AUTOMATICALLY, fill_menu_bar, make_toolbar
from desktop.gui.message_bar import MessageBar
from desktop.gui.photo_list import PhotoListView
from desktop.gui.photo_model import PhotoListModel, Status
from desktop.gui.screen_reader import screen_reader_running
from desktop.gui.search import install_search
from desktop.gui.settings_dialog import AUTO_READ_LABELS, SettingsDialog
from desktop.gui.shortcuts import ShortcutsDialog
from desktop.gui.theme import Theme
from desktop.gui.thumbnails import ThumbnailLoader
from desktop.gui.worker import CaptionWorker, ModelSpec, model_words
from desktop.licences import full_text
from desktop.paths import default_model_dir
from desktop.settings import Settings
from desktop.speech import Speech
from desktop.walk import display_path, find_photos
from desktop.wording import as_sentences

PROGRESS_MS = 500  # the progress bar (and what it tells screen readers) at most this often
LOADING_SAY_MS = 1500  # "Loading the model." only when it takes longer than this
FOCUS_SETTLE_S = 2.5  # a screen reader has read a newly focused item by then


class MainWindow(QMainWindow):
    captioning_started = Signal(object)  # the CaptionWorker, just before it starts
    captioning_done = Signal()  # a captioning run (or model load) has ended
    photo_told = Signal(int)  # the focused list item's new text was reported (row)
    idle = Signal()  # nothing left running: no captioning, no thumbnails (gui/scripted.py)

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        settings_problems: Sequence[str] = (),
        model_dir_override: str | None = None,
        speech: Speech | None = None,
        captioner: Captioner | None = None,
        save_settings: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self._save_settings = save_settings
        self._model_dir_override = model_dir_override
        self._captioner = captioner
        self._captioner_spec: ModelSpec | None = self.model_spec() if captioner else None
        self._worker: CaptionWorker | None = None
        self._thumbs: ThumbnailLoader | None = None
        self._model_failed = False
        self.library = LibraryLink(lambda text: self.report(text))  # every edit kept at once
        self._settings_changed = False  # model or beam width changed: F9 redoes every photo
        self._focused_at = 0.0  # when the current photo or the window last got the focus
        app = cast(QApplication, QApplication.instance())  # a widget cannot be without it
        self.theme = Theme(app)

        self.setWindowTitle("Captioner")
        self.setAccessibleName("Captioner")
        self.setAcceptDrops(True)
        self.speech = speech or Speech(self, voice=self.settings.voice, rate=self.settings.rate)
        if self.speech.parent() is None:
            self.speech.setParent(self)
        self.speech.failed.connect(lambda message: self.report(f"Reading aloud failed: {message}"))
        self.speech.started.connect(lambda _text: self._update_actions())
        self.speech.finished.connect(self._update_actions)
        self.speech.failed.connect(lambda _message: self._update_actions())

        # Created in screen order, which is the Tab order and the accessible tree's order:
        # the message bar (its Dismiss button) above the list, the list before the photo.
        self.message_bar = MessageBar(self)
        self.model = PhotoListModel(self)
        self.list = PhotoListView(self)
        self.list.setModel(self.model)
        self.inspector = Inspector(self)

        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)
        outer.addWidget(self.message_bar)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.splitter.addWidget(self.list)
        self.splitter.addWidget(self.inspector)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([430, 850])
        self.splitter.setChildrenCollapsible(False)
        # Accessible children follow the stacking order, in which QSplitter leaves the photo
        # before the list; screen readers would walk the window right to left.
        self.inspector.raise_()
        self.list.setMinimumWidth(280)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        # Progress sits above the status bar, not in it: Orca does not speak progress bars
        # inside a status bar.
        job_row = QHBoxLayout()
        job_row.setContentsMargins(0, 0, 0, 0)
        self.progress = QProgressBar(central)
        self.progress.setFormat("%v of %m")
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(200)
        self.progress.setMaximumWidth(320)
        self.progress.setAccessibleName("Captioning progress")
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", central)
        self.cancel_button.setAccessibleName("Cancel captioning")
        self.cancel_button.setAccessibleDescription(
            "Stop after the current photo; captions done so far are kept (Esc)."
        )
        self.cancel_button.hide()
        job_row.addWidget(self.progress)
        job_row.addWidget(self.cancel_button)
        job_row.addStretch(1)
        outer.addLayout(job_row)
        self._done_of = (0, 0)  # the run's progress, as last reported by the worker
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_MS)
        self._progress_timer.timeout.connect(self._show_progress)
        self.status_notice = StatusNotice(self)
        self.statusBar().addWidget(self.status_notice, 1)
        self.statusBar().setAccessibleName("Status bar")
        self.announcer = Announcer(self.status_notice, self)
        self._alt_guard = AltReleaseGuard(self)
        self._alt_watcher = AltShortcutWatcher(self._alt_guard, self)
        app.installEventFilter(self._alt_watcher)
        self._menu_focus = MenuFocusGuard(self)
        app.installEventFilter(self._menu_focus)

        self._make_actions()
        self._make_menus_and_toolbar()
        self._connect()
        install_search(self)  # Ctrl+F
        self.theme.apply(self.settings.high_contrast)
        self._style_toolbar()
        self.inspector.show_record(None)
        QWidget.setTabOrder(self.list, self.inspector.view)
        self.list.setFocus()
        for problem in settings_problems:
            self.report(problem, banner=True)
        if not self.speech.available and self.speech.problem:
            self.status_notice.setText(self.speech.problem)
        self._update_actions()

    # -- construction -----------------------------------------------------------------------
    def _make_actions(self) -> None:
        self.acts: dict[str, QAction] = make_actions(self)  # gui/actions.py's table, by name
        contrast = self.acts["contrast"]
        contrast.blockSignals(True)
        contrast.setChecked(self.settings.high_contrast)
        contrast.blockSignals(False)
        self.auto_read_group, self.auto_read_actions = make_auto_read_actions(
            self, self.settings.auto_read, self.set_auto_read
        )

    def _make_menus_and_toolbar(self) -> None:
        submenus = {READ_AUTOMATICALLY: list(self.auto_read_actions.values())}
        fill_menu_bar(self.menuBar(), self.acts, submenus)
        self.toolbar = make_toolbar(self, self.acts)

    def _connect(self) -> None:
        self.list.selectionModel().currentChanged.connect(self._current_changed)
        self.cancel_button.clicked.connect(self.cancel_captioning)
        ins = self.inspector
        ins.caption_edited.connect(self._caption_edited)
        ins.reviewed_toggled.connect(self._reviewed_toggled)
        ins.speak_requested.connect(self.speak_selected)
        ins.copy_requested.connect(self.copy_caption)
        self.model.dataChanged.connect(self._rows_changed)

    def _style_toolbar(self) -> None:
        # The style's stock icons are dark line art, invisible on black: text only then.
        self.toolbar.setToolButtonStyle(
            Qt.ToolButtonStyle.ToolButtonTextOnly
            if self.theme.high_contrast
            else Qt.ToolButtonStyle.ToolButtonTextBesideIcon
        )

    # -- state helpers ----------------------------------------------------------------------
    def model_spec(self) -> ModelSpec:
        s = self.settings
        return ModelSpec(
            model_dir=self._model_dir_override or s.model_dir,
            threads=s.threads,
            delegate=s.delegate,
            accelerator=s.accelerator,
        )

    def is_busy(self) -> bool:
        return self._worker is not None

    def is_idle(self) -> bool:
        """Nothing is running: no captioning, no thumbnails loading."""
        return not self.is_busy() and self._thumbs is None

    def tell_if_idle(self) -> None:
        if self.is_idle():
            self.idle.emit()

    @property
    def model_failed(self) -> bool:
        """The last run's model could not be loaded."""
        return self._model_failed

    def current_row(self) -> int | None:
        index = self.list.currentIndex()
        return index.row() if index.isValid() else None

    def select_row(self, row: int) -> None:
        index = self.model.index(row)
        self.list.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        self.list.scrollTo(index)

    def move_selection(self, delta: int) -> None:
        if self.model.rowCount() == 0:
            return
        row = self.current_row()
        row = 0 if row is None else max(0, min(self.model.rowCount() - 1, row + delta))
        self.select_row(row)

    def next_photo(self) -> None:
        self.move_and_tell(1)

    def previous_photo(self) -> None:
        self.move_and_tell(-1)

    def move_and_tell(self, delta: int) -> None:
        """Alt+Down / Alt+Up: from the list, the screen reader follows the focus; from
        anywhere else (the caption field) the new photo is said."""
        before = self.current_row()
        self.move_selection(delta)
        self._alt_guard.shortcut_used()
        if self.current_row() == before and before is not None:
            # Nothing moved: say why, or the key seems to do nothing.
            self.announce("Last photo" if delta > 0 else "First photo")
        elif self.current_row() != before and not self.list.hasFocus():
            self._tell_current_photo()

    def _tell_current_photo(self) -> None:
        """The current photo's spoken text, where the user is: as the focused list item's
        new description (screen readers speak that for the focus), else announced."""
        row = self.current_row()
        if row is None:
            return
        if self.list.hasFocus():
            # A screen reader reads a newly focused item when it gets to it: Orca took 1.7 s
            # at launch, and by then the caption had arrived. Told before that, it said the
            # caption twice; so wait until it has surely read the item, and tell only if
            # what it fetched is not the current text.
            wait = FOCUS_SETTLE_S - (time.monotonic() - self._focused_at)
            QTimer.singleShot(
                max(0, round(wait * 1000)),
                lambda: self.announcer.tell_item(
                    self.list,
                    row,
                    unread=lambda: row == self.current_row() and not self.model.was_read(row),
                    told=lambda: self.photo_told.emit(row),
                ),
            )
        else:
            self.announce(self.model.record(row).announcement)

    def announce(self, text: str, *, assertive: bool = False) -> None:
        """Show ``text`` in the status bar and have screen readers say it."""
        self.announcer.say(text, assertive=assertive)

    def confirm_now(self) -> None:
        """Send what was just announced at once, not after the window settles: called while
        a dialog is still open. When it closes, a screen reader reads the window and the
        focused photo again, and Orca queues rather than interrupts, so a confirmation sent
        after that waited ~10 s behind the re-read (issue 22, finding 6)."""
        self.announcer.flush()

    def status_text(self) -> str:
        """What F8 says: the progress of a run, else the last thing announced."""
        if self.is_busy():
            done, total = self._done_of
            return f"Captioning: {done} of {total} photos done"
        return self.announcer.last or "Ready"

    def speak_status(self) -> None:
        text = self.status_text()
        self.announce(text)
        if not screen_reader_running() and self.speech.available:
            self.speech.say(text)  # no screen reader to say it: the app's own voice does

    def open_menu_bar(self) -> None:
        bar = self.menuBar()
        actions = bar.actions()
        if actions:
            bar.setActiveAction(actions[0])

    def _auto_read(self) -> bool:
        """Automatic reading, unless a screen reader runs and reads the focus itself."""
        return self.settings.auto_read_with_screen_reader or not screen_reader_running()

    def report(self, text: str, *, banner: bool = True) -> None:
        if banner:
            self.message_bar.show_message(text)
        self.announce(text, assertive=True)

    def _update_actions(self) -> None:
        busy = self.is_busy()
        has_rows = self.model.rowCount() > 0
        record = self.inspector.record
        has_caption = record is not None and bool(record.caption.strip())
        self.acts["cancel"].setEnabled(busy)
        self.acts["recaption"].setEnabled(has_rows and not busy)
        self.acts["export"].setEnabled(has_rows)
        self.acts["xmp"].setEnabled(self.model.count(Status.DONE) > 0)
        self.acts["copy"].setEnabled(has_caption)
        self.acts["speak"].setEnabled(has_caption and self.speech.available)
        self.acts["speak_text"].setEnabled(
            record is not None and bool(record.full_text) and self.speech.available
        )
        self.acts["stop"].setEnabled(self.speech.speaking)
        self.cancel_button.setVisible(busy)

    # -- opening ------------------------------------------------------------------------------
    def open_folder_dialog(self) -> None:
        start = self.settings.last_folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of photos", start)
        if folder:
            self.open_paths([folder])

    def open_files_dialog(self) -> None:
        start = self.settings.last_folder or str(Path.home())
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Open photos",
            start,
            "Photos (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.gif);;All files (*)",
        )
        if files:
            self.open_paths(files)

    def open_folder(self, folder: str | os.PathLike) -> None:
        self.open_paths([folder])

    def open_paths(self, paths: Sequence[str | os.PathLike]) -> None:
        """Show the photos in ``paths`` (folders are listed, files taken as they are) and
        caption them."""
        self._stop_background()
        found = list(find_photos([os.fspath(p) for p in paths]))
        self.model.set_photos(found)
        first = Path(os.fspath(paths[0])) if paths else None
        folder = first if first is None or first.is_dir() else first.parent
        if folder is not None:
            self.setWindowTitle(f"{display_path(folder.name or str(folder))} \u2014 Captioner")
            self._remember(last_folder=str(folder.resolve()))
        self.message_bar.hide()
        self._model_failed = False
        if not found:
            self.inspector.show_record(None)
            where = display_path(folder.name or str(folder)) if folder is not None else "nothing"
            self.announce(f"No photos found in {where}")
            self._update_actions()
            self.tell_if_idle()
            return
        self._thumbs = ThumbnailLoader([r.path for r in self.model.records], parent=self)
        self._thumbs.loaded.connect(self.model.set_thumbnails)
        self._thumbs.finished.connect(self._thumbs_finished)
        self._thumbs.start()
        self.select_row(0)
        # Stored captions show at once; the model runs only where the library has none.
        rows = self.library.restore(self.model, bundle_id(self.model_spec().model_dir))
        self.caption_rows(rows, intro=f"{len(found)} photos. ")

    def _thumbs_finished(self) -> None:
        sender = self.sender()
        if sender is self._thumbs:
            self._thumbs = None
            self.tell_if_idle()
        if isinstance(sender, ThumbnailLoader):
            sender.deleteLater()

    # -- captioning ---------------------------------------------------------------------------
    def caption_rows(self, rows: Sequence[int], *, intro: str = "") -> None:
        if self.is_busy():
            self._cancel_and_wait()
        rows = list(rows)
        if not rows:
            if intro:
                self.announce(intro.strip())
            self._update_actions()
            self.tell_if_idle()
            return
        self.model.set_pending(rows)
        spec = self.model_spec()
        captioner = self._captioner if spec == self._captioner_spec else None
        worker = CaptionWorker(
            [self.model.record(r).path for r in rows],
            beam_width=self.settings.beam_width,
            spec=spec,
            captioner=captioner,
            parent=self,
        )
        worker.progress.connect(self._progress)
        worker.result.connect(self._result)
        worker.error.connect(self._photo_error)
        worker.model_ready.connect(lambda c, s=spec: self._model_ready(c, s))
        worker.model_failed.connect(self._model_load_failed)
        worker.model_warning.connect(lambda message: self.report(message))
        worker.failed.connect(lambda message: self.report(message))
        worker.finished.connect(self._worker_finished)
        self._worker = worker
        self._done_of = (0, len(rows))
        self.progress.setRange(0, len(rows))
        self.progress.setValue(0)
        self.progress.show()
        # One announcement: two in a row would cut each other off.
        self.announce(f"{intro}Captioning {len(rows)} photos.")
        if captioner is None:
            # Said only if loading takes a while: the default model loads in well under a
            # second, and "Loading…" heard after the captions was stale. No brackets or
            # paths: a screen reader reads them out ("left paren", "slash").
            QTimer.singleShot(
                LOADING_SAY_MS,
                lambda w=worker, s=spec: self._still_loading(w, s),
            )
        self._update_actions()
        self.captioning_started.emit(worker)
        worker.start()

    def caption_again(self) -> None:
        """F9: the photos a cancelled or failed run left without a caption; when there are
        none (or the settings that make captions changed since), every photo. Reviewed
        captions are the user's: never overwritten."""
        records = self.model.records
        rest = [i for i, r in enumerate(records) if r.status is not Status.DONE]
        if self._settings_changed or not rest:
            rest = [i for i, r in enumerate(records) if not r.reviewed]
        self._settings_changed = False
        self.caption_rows(rest)

    def cancel_captioning(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.announce("Cancelling after the current photo\u2026")

    def _cancel_and_wait(self) -> None:
        worker = self._worker
        if worker is None:
            return
        worker.cancel()
        worker.wait()
        QApplication.processEvents()  # deliver what it produced before it stopped
        if self._worker is worker:
            self._worker_finished_for(worker)

    def _still_loading(self, worker: CaptionWorker, spec: ModelSpec) -> None:
        if self._worker is worker and self._captioner_spec != spec and not self._model_failed:
            self.announce(f"Loading {model_words(spec)}.")

    def _model_ready(self, captioner: Captioner, spec: ModelSpec) -> None:
        self._captioner = captioner
        self._captioner_spec = spec

    def _model_load_failed(self, message: str) -> None:
        self._model_failed = True
        self._captioner = None
        self._captioner_spec = None
        self.model.skip_pending("the model could not be loaded")
        self.report(f"{message}. Choose another model folder or accelerator in Settings (Ctrl+,).")

    def _row_for(self, path: str) -> int | None:
        return self.model.row_of(path)

    def _result(self, path: str, result: CaptionResult) -> None:
        row = self._row_for(path)
        if row is None:
            return
        record = self.model.set_result(row, result)
        self.library.store_result(record.path, result, self._captioner)
        if row == self.current_row():
            self._tell_current_photo()
        if self.settings.auto_read == "arrival" and self._auto_read():
            self.speech.say(record.spoken, queue=True)

    def _photo_error(self, path: str, message: str) -> None:
        row = self._row_for(path)
        if row is not None:
            self.model.set_error(row, message)
            if row == self.current_row():
                self._tell_current_photo()  # "No caption: <why>"

    def _progress(self, done: int, total: int) -> None:
        # At most every PROGRESS_MS: each update is two accessibility events, and fast
        # captioning (15 photos in 2 s) flooded Orca past its 50-event limit; it dropped
        # the queue, "Captioning 150 photos" with it.
        self._done_of = (done, total)
        if not self._progress_timer.isActive():
            self._show_progress()
            self._progress_timer.start()

    def _show_progress(self) -> None:
        done, total = self._done_of
        if (self.progress.value(), self.progress.maximum()) == (done, total):
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setAccessibleDescription(f"{done} of {total} photos captioned")

    def _worker_finished(self) -> None:
        worker = self.sender()
        if isinstance(worker, CaptionWorker):
            self._worker_finished_for(worker)

    def _worker_finished_for(self, worker: CaptionWorker) -> None:
        if worker is not self._worker:
            return
        self._worker = None
        worker.deleteLater()
        cancelled = worker.cancelled
        skipped = self.model.skip_pending("cancelled" if cancelled else "stopped")
        self.progress.hide()
        done = self.model.count(Status.DONE)
        failed = self.model.count(Status.FAILED)
        if self._model_failed:
            pass  # already reported
        elif cancelled:
            self.announce(
                f"Cancelled: {worker.done} of {worker.total} photos captioned, "
                f"{skipped} not captioned"
            )
        else:
            text = f"Done: {done} captioned"
            if failed:
                text += f", {failed} could not be read"
            self.announce(text)
        self._update_actions()
        self.captioning_done.emit()
        self.tell_if_idle()

    def _stop_background(self) -> None:
        if self._worker is not None:
            worker = self._worker
            self._worker = None
            for signal in (worker.result, worker.error, worker.progress, worker.finished):
                signal.disconnect()
            worker.cancel()
            worker.wait()
            worker.deleteLater()
            self.progress.hide()
        if self._thumbs is not None:
            thumbs = self._thumbs
            self._thumbs = None
            thumbs.loaded.disconnect()
            thumbs.requestInterruption()
            thumbs.wait()

    # -- the selected photo ---------------------------------------------------------------------
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._focused_at = time.monotonic()
        record = self.model.record(current.row()) if current.isValid() else None
        self.inspector.show_record(record)
        self._update_actions()
        if (
            record is not None
            and self.settings.auto_read == "selection"
            and record.caption
            and self._auto_read()
        ):
            self.speech.say(record.spoken)

    def _rows_changed(
        self,
        top: QModelIndex | QPersistentModelIndex,
        bottom: QModelIndex | QPersistentModelIndex,
        roles: Sequence[int] = (),
    ) -> None:
        row = self.current_row()
        if row is None or not top.row() <= row <= bottom.row():
            return
        if roles and Qt.ItemDataRole.DecorationRole in roles and len(roles) == 1:
            return
        self.inspector.show_record(self.model.record(row))
        self._update_actions()

    def _caption_edited(self, text: str) -> None:
        row = self.current_row()
        if row is not None:
            record = self.model.edit_caption(row, text)
            if record.edited:
                self.library.store_edit(record.path, record.caption, record.reviewed)

    def _reviewed_toggled(self, reviewed: bool) -> None:
        row = self.current_row()
        if row is not None:
            record = self.model.set_reviewed(row, reviewed)
            self.library.store_reviewed(record.path, record.reviewed)

    def selected_caption(self) -> str:
        row = self.current_row()
        return self.model.record(row).caption.strip() if row is not None else ""

    def speak_selected(self) -> None:
        row = self.current_row()
        if row is None or not self.selected_caption():
            self.announce("There is no caption to read")
            return
        self.speech.say(self.model.record(row).spoken)

    def speak_text(self) -> None:
        row = self.current_row()
        text = self.model.record(row).full_text if row is not None else ""
        if not text:
            self.announce("No text was read in this photo")
            return
        self.speech.say(as_sentences(text))

    def stop_speaking(self) -> None:
        self.speech.stop()

    def copy_caption(self) -> None:
        caption = self.selected_caption()
        if caption:
            QGuiApplication.clipboard().setText(caption)
            self.announce("Caption copied")

    # -- export -------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        folder = Path(self.settings.last_folder or Path.home())
        name = f"{folder.name or 'captions'}-captions.csv"
        dialog = QFileDialog(self, "Export captions", str(folder / name))
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilters(list(export.FILTERS.values()))
        dialog.setAccessibleName("Export captions")
        # Qt's own dialog (no desktop's): its "Files of type" says what is chosen.
        file_types = dialog.findChild(QComboBox, "fileTypeCombo")
        if file_types is not None:
            say_choice(file_types)

        def save(path: str) -> None:
            chosen = dialog.selectedNameFilter()
            fmt = next((k for k, v in export.FILTERS.items() if v == chosen), "csv")
            if Path(path).suffix.lower().lstrip(".") not in export.FILTERS:
                path += f".{fmt}"
            self.export_to(path)
            self.confirm_now()

        # Chosen and saved while the dialog is still open (Qt emits fileSelected before it
        # closes), so the confirmation goes out first; see ``confirm_now``.
        dialog.fileSelected.connect(save)
        dialog.exec()

    def export_to(self, path: str | os.PathLike) -> bool:
        try:
            count = export.export_captions(self.model.records, path)
        except (OSError, ValueError) as exc:
            self.report(f"Could not export captions: {exc}")
            return False
        # The file's name: the user just chose the folder, and a path is read out slash by slash.
        self.announce(f"Exported {count} captions to {display_path(Path(path).name)}")
        return True

    def write_sidecars(self) -> None:
        report = export.write_sidecars(self.model.records)
        text = f"Wrote {len(report.written)} XMP sidecars"
        if report.problems:
            self.report(f"{text}; {len(report.problems)} failed: {report.problems[0]}")
        else:
            self.announce(text)

    # -- settings -----------------------------------------------------------------------------
    def _remember(self, **changes: object) -> None:
        try:
            self.settings = self.settings.replace(**changes)
        except ValueError as exc:
            self.report(f"Setting not changed: {exc}")
            return
        if self._save_settings:
            try:
                settings_store.save(self.settings)
            except OSError as exc:
                self.announce(f"Could not save settings: {exc}")

    def open_settings(self) -> None:
        dialog = SettingsDialog(
            self.settings,
            self.speech.voices(),
            default_model=str(default_model_dir()),
            speech_backend=self.speech.backend,
            parent=self,
        )
        dialog.test_voice.connect(self._test_voice)
        dialog.confirmed.connect(lambda: self._settings_confirmed(dialog))
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            self.speech.set_voice(self.settings.voice)
            self.speech.set_rate(self.settings.rate)

    def _settings_confirmed(self, dialog: SettingsDialog) -> None:
        """OK, with the dialog still open: applied and confirmed before it closes."""
        try:
            new = dialog.settings()
        except ValueError as exc:
            self.report(f"Settings not saved: {exc}")
        else:
            self.apply_settings(new)
        self.confirm_now()

    def _test_voice(self, voice: str, rate: float) -> None:
        self.speech.set_voice(voice)
        self.speech.set_rate(rate)
        self.speech.say("A dog runs through the grass.")

    def apply_settings(self, new: Settings) -> None:
        old_spec = self.model_spec()
        old = self.settings
        self._remember(**{k: getattr(new, k) for k in new.__dataclass_fields__})
        self.speech.set_voice(self.settings.voice)
        self.speech.set_rate(self.settings.rate)
        if old.high_contrast != self.settings.high_contrast:
            self.acts["contrast"].setChecked(self.settings.high_contrast)
        self.auto_read_actions[self.settings.auto_read].setChecked(True)
        if self.model_spec() != old_spec or old.beam_width != self.settings.beam_width:
            if self.model_spec() != old_spec:
                self._captioner = None
                self._captioner_spec = None
            if self.model.rowCount():
                self._settings_changed = True
                self.announce("Settings saved. Press F9 to caption again with them.")
                return
        self.announce("Settings saved")

    def set_high_contrast(self, on: bool) -> None:
        self.theme.apply(on)
        self._style_toolbar()
        if self.message_bar.isVisible():
            self.message_bar.show_message(self.message_bar.text.text())  # recolour
        row = self.current_row()
        self.inspector.show_record(self.model.record(row) if row is not None else None)
        if on != self.settings.high_contrast:
            self._remember(high_contrast=on)
        self.announce("High contrast on" if on else "High contrast off")

    def set_auto_read(self, mode: str) -> None:
        self._remember(auto_read=mode)
        self.announce(f"Read automatically: {AUTO_READ_LABELS[mode].lower()}")

    # -- help ---------------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        ShortcutsDialog(self).exec()

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Captioner")
        box.setIcon(QMessageBox.Icon.Information)
        box.setText(
            "<p><b>Captioner</b> describes photos in plain English, offline, on your own "
            "computer (Show, Attend and Tell on LiteRT).</p>"
            f"<p>Speech: {self.speech.backend}. Model: {self.model_spec().describe()}.</p>"
            # Which accelerator auto chose (or the CPU it fell back to), once loaded.
            + (f"<p>Runs on: {self._captioner.accelerator}.</p>" if self._captioner else "")
        )
        licences = self._licences()
        if licences:
            # The model's parts, their origin and the Apache-2.0 text they ship under: in the
            # details, a text field a screen reader reads line by line.
            box.setInformativeText("Its model's parts and their licences: Show Details.")
            box.setDetailedText(licences)
        box.exec()

    def _licences(self) -> str:
        try:
            bundle = (
                self._captioner.bundle
                if self._captioner is not None
                else load_bundle(self.model_spec().model_dir or default_model_dir(), verify=False)
            )
        except BundleError:
            return ""
        return full_text(bundle)

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.WindowActivate:
            self._focused_at = time.monotonic()  # a screen reader reads the focus anew
        if event.type() == QEvent.Type.StatusTip:
            # A menu item's status tip would take over the status bar, hiding the status
            # line; shown again, the line re-announces its old text ("Settings saved."), and
            # the hide and show closed an open menu under Orca (issue 22, finding 1). The
            # tips are in the tooltips and in F1's list; the status line stays as it is.
            return True
        return super().event(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop_background()
        self.speech.close()  # its own speech only: the screen reader goes on
        self.library.close()
        super().closeEvent(event)
