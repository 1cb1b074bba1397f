"""The photo list: a thumbnail, the file name and the caption on each row.

Captions are drawn wrapped in the body font (they are the point of the app); a failed photo
shows its reason in an error colour. The item's accessible name and description come from
the model (file name, caption), so screen readers read them as focus moves.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from desktop.gui.photo_model import PhotoRecord, RecordRole, Status
from desktop.gui.thumbnails import THUMB_SIZE

PAD = 8
GAP = 12
CAPTION_LINES = 3


def error_color(palette: QPalette) -> QColor:
    """Readable red on light or dark backgrounds."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return QColor("#ff8a80") if dark else QColor("#b3261e")


def format_score(score: float) -> str:
    return f"{score:.2f}".replace("-", "\u2212")


def status_line(record: PhotoRecord) -> str:
    if record.status is Status.DONE:
        bits = []
        if record.result is not None:
            bits.append(f"score {format_score(record.result.score)}")
        if record.edited:
            bits.append("edited")
        if record.reviewed:
            bits.append("\u2713 reviewed")
        return " \u00b7 ".join(bits)
    if record.status is Status.PENDING:
        return "Waiting for a caption\u2026"
    if record.status is Status.SKIPPED:
        return "Not captioned" + (f": {record.error}" if record.error else "")
    return ""


class PhotoDelegate(QStyledItemDelegate):
    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self._view = view

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        base = QFont(option.font)
        name = QFont(base)
        name.setBold(True)
        small = QFont(base)
        small.setPointSizeF(base.pointSizeF() * 0.9)
        return name, base, small

    def _text_rect(self, rect: QRect) -> QRect:
        return rect.adjusted(PAD + THUMB_SIZE + GAP, PAD, -PAD, -PAD)

    def _body(self, record: PhotoRecord) -> str:
        if record.status is Status.DONE:
            return record.spoken
        if record.status is Status.FAILED:
            return f"Could not caption: {record.error}"
        return ""

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        record: PhotoRecord = index.data(RecordRole)
        width = max(200, self._view.viewport().width())
        text = self._text_rect(QRect(0, 0, width, 10_000))
        name_font, body_font, small_font = self._fonts(option)
        height = QFontMetrics(name_font).height()
        body = self._body(record) if record else ""
        if body:
            fm = QFontMetrics(body_font)
            needed = fm.boundingRect(text, Qt.TextFlag.TextWordWrap, body).height()
            height += 2 + min(needed, fm.lineSpacing() * CAPTION_LINES)
        if record and status_line(record):
            height += 2 + QFontMetrics(small_font).height()
        return QSize(width, max(THUMB_SIZE, height) + 2 * PAD)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        record: PhotoRecord = index.data(RecordRole)
        if record is None:
            return
        painter.save()
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight))
        elif index.row() % 2:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        fg = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )

        # Thumbnail, centred in its square.
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        square = QRect(rect.left() + PAD, rect.top() + PAD, THUMB_SIZE, THUMB_SIZE)
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.size().scaled(square.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(square.center())
            painter.drawPixmap(target, pixmap)
        else:
            painter.fillRect(square, palette.color(QPalette.ColorRole.Mid))
            if record.status is Status.FAILED:
                icon = self._view.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
                mark = QRect(0, 0, THUMB_SIZE // 3, THUMB_SIZE // 3)
                mark.moveCenter(square.center())
                icon.paint(painter, mark)

        name_font, body_font, small_font = self._fonts(option)
        text = self._text_rect(rect)
        painter.setPen(fg)
        painter.setFont(name_font)
        name_h = QFontMetrics(name_font).height()
        elided = QFontMetrics(name_font).elidedText(
            record.name, Qt.TextElideMode.ElideMiddle, text.width()
        )
        painter.drawText(
            QRect(text.left(), text.top(), text.width(), name_h),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            elided,
        )
        y = text.top() + name_h + 2
        body = self._body(record)
        if body:
            fm = QFontMetrics(body_font)
            box_h = min(
                fm.boundingRect(
                    QRect(text.left(), y, text.width(), 10_000), Qt.TextFlag.TextWordWrap, body
                ).height(),
                fm.lineSpacing() * CAPTION_LINES,
            )
            painter.setFont(body_font)
            if record.status is Status.FAILED and not selected:
                painter.setPen(error_color(palette))
            painter.drawText(
                QRect(text.left(), y, text.width(), box_h),
                Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft,
                body,
            )
            y += box_h + 2
        status = status_line(record)
        if status:
            painter.setFont(small_font)
            muted = QColor(fg)
            if not selected:
                muted.setAlphaF(0.75)
            painter.setPen(muted)
            painter.drawText(
                QRect(text.left(), y, text.width(), QFontMetrics(small_font).height()),
                Qt.AlignmentFlag.AlignLeft,
                status,
            )
        if option.state & QStyle.StateFlag.State_HasFocus:
            # A thick outline: the default dotted focus rectangle is easy to lose.
            width = 3
            pen = QPen(fg if selected else palette.color(QPalette.ColorRole.Highlight), width)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.restore()


class PhotoListView(QListView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setItemDelegate(PhotoDelegate(self))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(False)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrap(True)
        self.setAccessibleName("Photos")
        self.setAccessibleDescription(
            "Photos in the open folder with their captions. Up and down arrows move between photos."
        )

    def setModel(self, model) -> None:
        super().setModel(model)
        # A caption arriving changes the row's height, which QListView does not notice alone.
        model.dataChanged.connect(lambda *_: self.scheduleDelayedItemsLayout())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # Wrapped captions change height with the width.
        self.scheduleDelayedItemsLayout()
