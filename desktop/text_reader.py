"""Reading the text in a photo: PP-OCR's detector and recogniser on LiteRT (bundle part
``text_reader``, docs/bundle-format.md), with DB box extraction and CTC greedy decoding.

1. The gate: the detector on the encoder's own pixels (256², the photo is decoded once for
   both). No pixel sure enough to be text, and no page or screen that the classifier
   recognises (whose small print is below what 256 pixels show) → no text. This is the
   fast path almost every text-free photo takes.
2. The detector at full size: 480² tiles over the photo, decoded again and scaled to at most
   ``max_side``; the tiles' probabilities make one map.
3. DB boxes (Liao et al., "Real-time Scene Text Detection with Differentiable
   Binarization"): the map above ``threshold`` in connected components, each an oriented
   rectangle (its pixels' principal axes) grown by DB's unclip distance.
4. Each box is cut out of the photo itself (not the map), made 48 pixels high and read by
   the recogniser, in 320-pixel pieces cut at the quietest columns where a line is longer.
5. CTC greedy decoding (best character per step, repeats and blanks removed); a line's
   confidence is the mean probability of its characters. Lines below ``min_confidence``,
   without two letters or digits, or mostly outside the Latin script (this app speaks
   English) are not reported: no text is said where none is sure.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from desktop import BundleError

if TYPE_CHECKING:  # bundle.py imports this module (TextSettings); the runtime costs LiteRT
    from desktop.bundle import TextReaderPart
    from desktop.runtime import RuntimeOptions

PAD_VALUE = 127.5  # 0 after the models' [-1, 1] scaling: PaddleOCR pads with zeros
TILE_OVERLAP = 32  # pixels two neighbouring detector tiles share (DB sees across the seam)
SMALL_TEXT = 24.0  # text boxes lower than this (map pixels, unclipped) get a closer look
PAGE_WORDS = 40  # a page of text has at least this many words ...
PAGE_COVER = 0.15  # ... in boxes covering this share of the photo
SCREEN_FLAT = 0.55  # a screenshot: this share of neighbouring pixels exactly equal ...
SCREEN_LINES = 3  # ... and this many lines of text


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float  # mean probability of the line's characters (0..1)
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the photo


@dataclass(frozen=True)
class TextSettings:
    """The manifest's ``text_reader`` thresholds (docs/bundle-format.md)."""

    gate_threshold: float = 0.6  # the gate goes on when a pixel's text probability reaches this
    threshold: float = 0.3  # DB's binarisation of the probability map
    box_threshold: float = 0.6  # a box's mean probability
    unclip: float = 1.6  # DB's unclip ratio (distance = area * ratio / perimeter)
    min_confidence: float = 0.9  # a line is reported from this confidence
    max_side: int = 1280  # the detector sees the photo scaled to at most this long side


@dataclass(frozen=True)
class Reading:
    lines: tuple[TextLine, ...]
    kind: str  # "", "short", "screenshot", "page"
    detect_ms: float = 0.0
    recognize_ms: float = 0.0


NO_TEXT = Reading((), "")


def words(lines: tuple[TextLine, ...]) -> int:
    return sum(len(line.text.split()) for line in lines)


# -- connected components and boxes ----------------------------------------------------


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of a boolean map: row, first column, column after the last;
    in row-major order."""
    h, w = mask.shape
    padded = np.zeros((h, w + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends


def components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a boolean map, as runs: ``(rows, starts, ends, label)``,
    labels 0..n-1 (no scipy in the app: a run-length union-find)."""
    rows, starts, ends = _runs(mask)
    n = len(rows)
    if n == 0:
        return rows, starts, ends, np.zeros(0, np.int64)
    stride = mask.shape[1] + 2
    start_keys = rows * stride + starts
    end_keys = rows * stride + ends
    # A run touches the runs of the row above that end at or after its start - 1 and start
    # at or before its end (8-connectivity); those are contiguous in row-major order.
    above = (rows - 1) * stride
    lo = np.searchsorted(end_keys, above + starts, side="left")
    hi = np.searchsorted(start_keys, above + ends, side="right")
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for b in np.flatnonzero(hi > lo).tolist():
        rb = find(b)
        for a in range(int(lo[b]), int(hi[b])):
            ra = find(a)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
                rb = min(ra, rb)
    roots = np.array([find(i) for i in range(n)])
    _, label = np.unique(roots, return_inverse=True)
    return rows, starts, ends, label


@dataclass(frozen=True)
class Box:
    """An oriented rectangle in map pixels: centre, unit axis along the text, full sizes."""

    cx: float
    cy: float
    ux: float
    uy: float
    width: float
    height: float
    score: float

    def corners(self) -> np.ndarray:
        """[4, 2]: top-left, top-right, bottom-right, bottom-left."""
        u = np.array([self.ux, self.uy]) * self.width / 2
        v = np.array([-self.uy, self.ux]) * self.height / 2
        c = np.array([self.cx, self.cy])
        return np.stack([c - u - v, c + u - v, c + u + v, c - u + v])


def boxes(probability: np.ndarray, settings: TextSettings, min_side: float = 3.0) -> list[Box]:
    """DB's boxes of a probability map ``[H, W]``."""
    mask = probability > settings.threshold
    # DB's dilation (2 x 2) joins the letters of a word across one-pixel gaps.
    mask[1:, :] |= mask[:-1, :]
    mask[:, 1:] |= mask[:, :-1]
    rows, starts, ends, label = components(mask)
    if not len(label):
        return []
    count = int(label.max()) + 1
    cum = np.zeros((probability.shape[0], probability.shape[1] + 1), np.float64)
    np.cumsum(probability, axis=1, out=cum[:, 1:])
    n = (ends - starts).astype(np.float64)
    y = rows + 0.5
    first, last = starts + 0.5, ends - 0.5  # pixel centres of each run's ends
    sx = n * (first + last) / 2
    # sum of x^2 over the run's pixel centres: n*mean^2 + n*(n^2 - 1)/12
    mean = (first + last) / 2
    sxx = n * mean**2 + n * (n**2 - 1) / 12

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(label, weights=values, minlength=count)

    area = total(n)
    mx, my = total(sx) / area, total(n * y) / area
    cxx = total(sxx) / area - mx**2
    cyy = total(n * y**2) / area - my**2
    cxy = total(y * sx) / area - mx * my
    angle = 0.5 * np.arctan2(2 * cxy, cxx - cyy)  # the principal axis, -90..90 degrees
    # The text runs along the more horizontal axis.
    angle = np.where(angle > np.pi / 4, angle - np.pi / 2, angle)
    angle = np.where(angle < -np.pi / 4, angle + np.pi / 2, angle)
    ux, uy = np.cos(angle), np.sin(angle)
    score = total(cum[rows, ends] - cum[rows, starts]) / area
    out: list[Box] = []
    lab_ux, lab_uy, lab_mx, lab_my = ux[label], uy[label], mx[label], my[label]
    for xs in (first, last):
        du = (xs - lab_mx) * lab_ux + (y - lab_my) * lab_uy
        dv = -(xs - lab_mx) * lab_uy + (y - lab_my) * lab_ux
        if xs is first:
            umin, umax = du.copy(), du.copy()
            vmin, vmax = dv.copy(), dv.copy()
        else:
            umin, umax = np.minimum(umin, du), np.maximum(umax, du)
            vmin, vmax = np.minimum(vmin, dv), np.maximum(vmax, dv)
    lo_u = np.full(count, np.inf)
    hi_u = np.full(count, -np.inf)
    lo_v = np.full(count, np.inf)
    hi_v = np.full(count, -np.inf)
    np.minimum.at(lo_u, label, umin)
    np.maximum.at(hi_u, label, umax)
    np.minimum.at(lo_v, label, vmin)
    np.maximum.at(hi_v, label, vmax)
    for i in range(count):
        w, h = hi_u[i] - lo_u[i] + 1, hi_v[i] - lo_v[i] + 1
        if min(w, h) < min_side or score[i] < settings.box_threshold:
            continue
        # DB's unclip: the shrunk text region grows by area * ratio / perimeter each way.
        d = w * h * settings.unclip / (2 * (w + h))
        cu, cv = (lo_u[i] + hi_u[i]) / 2, (lo_v[i] + hi_v[i]) / 2
        cx = mx[i] + cu * ux[i] - cv * uy[i]
        cy = my[i] + cu * uy[i] + cv * ux[i]
        out.append(Box(cx, cy, ux[i], uy[i], w + 2 * d, h + 2 * d, float(score[i])))
    return out


# -- recognition -----------------------------------------------------------------------


SPACE_FLOOR = 0.3  # a blank step this sure of a space is a space (see ctc_greedy)


def ctc_greedy(probabilities: np.ndarray, keys: tuple[str, ...]) -> tuple[str, list[float]]:
    """``[T, C]`` → the text and its characters' probabilities, spaces left out (column 0
    is the blank, column i ``keys[i - 1]``, the last column a space).

    Greedy: the best column per step, repeats and blanks removed. One exception: PP-OCR's
    recogniser (trained mostly on Chinese, which has no spaces) often puts a blank between
    two English words where the space is a close second ("chilli dip" read as "chillidip"
    with the space at 0.4); a blank step whose space reaches ``SPACE_FLOOR`` counts as a
    space."""
    space = probabilities.shape[1] - 1
    best = probabilities.argmax(axis=1)
    best = np.where((best == 0) & (probabilities[:, space] >= SPACE_FLOOR), space, best)
    p = probabilities[np.arange(len(best)), best]
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    ids = best[keep]
    chars = [keys[i - 1] if i <= len(keys) else " " for i in ids.tolist()]
    # A line's confidence is its characters': a space taken from a close second would
    # otherwise pull down the confidence of a line read right.
    return "".join(chars), p[keep][ids != space].tolist()


def _cuts(gray: np.ndarray, width: int) -> list[tuple[int, int, bool]]:
    """Pieces ``(start, end, space_before)`` of a line image at most ``width`` wide, cut in
    the middle of the widest gap (columns without ink) in the last third of each piece;
    ``space_before``: that gap is a word space (wider than an eighth of the height: letters
    of a 48-pixel line stand 1–4 pixels apart)."""
    h, w = gray.shape
    activity = gray.std(axis=0)
    quiet = activity <= max(2.0, 0.15 * float(activity.max()))
    pieces: list[tuple[int, int, bool]] = []
    start, space = 0, False
    while w - start > width:
        lo, hi = start + width * 2 // 3, start + width
        best, best_width = -1, 0
        x = lo
        while x < hi:
            if not quiet[x]:
                x += 1
                continue
            a = x
            while a > start and quiet[a - 1]:
                a -= 1
            b = x
            while b + 1 < w and quiet[b + 1]:
                b += 1
            middle = min((a + b) // 2, hi - 1)
            if b - a + 1 >= best_width and middle > start:
                best, best_width = max(lo, middle), b - a + 1
            x = b + 1
        if best < 0:  # no gap at all: the quietest column
            best, best_width = lo + int(np.argmin(activity[lo:hi])), 0
        pieces.append((start, best, space))
        space = best_width >= h / 8
        start = best
    pieces.append((start, w, space))
    return pieces


def _starts(size: int, tile: int, stride: int) -> list[int]:
    """Where the tiles along one side start: every ``stride``, the last flush with the end."""
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return [*starts, size - tile]


def _latin_share(text: str) -> float:
    letters = [c for c in text if not c.isspace()]
    if not letters:
        return 0.0
    latin = sum(1 for c in letters if ord(c) < 0x250 or unicodedata.category(c)[0] in "PS")
    return latin / len(letters)


def reading_order(found: list[tuple[np.ndarray, str, float]]) -> list[int]:
    """Indices of ``(corners, text, confidence)`` in reading order: rows top to bottom, left
    to right within a row. Rows follow the text's own slant (the median of the boxes'
    angles: a photographed page is seldom level), and a box joins the row whose centre line
    is within half its height (a row's extent never grows, so two lines of a tilted page
    never merge through a price beside them)."""
    if not found:
        return []
    corners = np.stack([c for c, _, _ in found])  # [N, 4, 2]: tl, tr, br, bl
    along = corners[:, 1] - corners[:, 0]
    angle = float(np.median(np.arctan2(along[:, 1], along[:, 0])))
    ux, uy = np.cos(angle), np.sin(angle)
    centre = corners.mean(axis=1)
    u = centre[:, 0] * ux + centre[:, 1] * uy
    v = -centre[:, 0] * uy + centre[:, 1] * ux
    height = np.linalg.norm(corners[:, 3] - corners[:, 0], axis=1)
    rows: list[list[int]] = []
    for i in np.argsort(v, kind="stable").tolist():
        best, gap = None, 0.0
        for row in rows:
            row_v = float(np.mean(v[row]))
            limit = 0.5 * min(height[i], float(np.mean(height[row])))
            distance = abs(v[i] - row_v)
            if distance < limit and (best is None or distance < gap):
                best, gap = row, distance
        if best is None:
            rows.append([i])
        else:
            best.append(i)
    rows.sort(key=lambda row: float(np.mean(v[row])))
    return [i for row in rows for i in sorted(row, key=lambda j: u[j])]


def flat_share(img: Image.Image) -> float:
    """The share of horizontally neighbouring pixels that are exactly equal: high for a
    rendered screen (flat fills), low for a camera's photo (noise everywhere)."""
    small = img if max(img.size) <= 640 else img.reduce(max(1, max(img.size) // 640))
    a = np.asarray(small, np.int16)
    if a.shape[1] < 2:
        return 0.0
    return float((np.abs(np.diff(a, axis=1)).max(axis=2) == 0).mean())


def kind_of(lines: tuple[TextLine, ...], img: Image.Image) -> str:
    if not lines:
        return ""
    cover = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in (line.box for line in lines))
    # A page first: a rendered document is flat like a screen, and "a page of text, about
    # 240 words" says more than "a screenshot".
    if words(lines) >= PAGE_WORDS and cover >= PAGE_COVER:
        return "page"
    if len(lines) >= SCREEN_LINES and flat_share(img) >= SCREEN_FLAT:
        return "screenshot"
    return "short"


class TextReader:
    """The three models of a bundle's ``text_reader`` part; not thread-safe (the
    ``Captioner`` holds its lock around ``read``)."""

    def __init__(self, part: TextReaderPart, options: RuntimeOptions | None = None) -> None:
        from desktop.runtime import Model

        self.part = part
        self.settings: TextSettings = part.settings
        self.keys: tuple[str, ...] = part.keys
        self.gate_model = Model(part.gate.path, part.gate.signature, options, quiet=True)
        self.detector = Model(part.detector.path, part.detector.signature, options, quiet=True)
        self.recognizer = Model(
            part.recognizer.path, part.recognizer.signature, options, quiet=True
        )
        self.gate_size = self._square(self.gate_model, "probability")
        self.tile_size = self._square(self.detector, "probability")
        rec = self.recognizer.inputs.get("pixels")
        out = self.recognizer.outputs.get("probabilities")
        if (
            rec is None
            or out is None
            or len(rec.shape) != 4
            or len(out.shape) != 3
            or not (8 <= rec.shape[1] <= rec.shape[2] and rec.shape[2] >= 32)
        ):
            raise BundleError(
                f"{part.recognizer.path.name}: needs input pixels [1, H, W, 3] and output "
                "probabilities [1, T, C]"
            )
        self.rec_height, self.rec_width = rec.shape[1], rec.shape[2]
        if out.shape[2] != len(self.keys) + 2:
            raise BundleError(
                f"{part.keys_path.name}: {len(self.keys)} characters, but the recogniser "
                f"gives {out.shape[2]} columns (blank + characters + space)"
            )

    @staticmethod
    def _square(model, output: str) -> int:
        spec = model.inputs.get("pixels")
        out = model.outputs.get(output)
        if (
            spec is None
            or out is None
            or len(spec.shape) != 4
            or spec.shape[1] != spec.shape[2]
            or spec.shape[1] < 32
            or tuple(out.shape) != (1, spec.shape[1], spec.shape[2])
        ):
            raise BundleError(
                f"{model.path.name}: needs input pixels [1, S, S, 3] and output {output} [1, S, S]"
            )
        return int(spec.shape[1])

    # -- stages ------------------------------------------------------------------------

    def gate(self, pixels: np.ndarray) -> bool:
        """Whether the gate sees text in photo pixels ``[1, H, W, 3]``, 0–255 (the
        encoder's: the fast path decodes nothing more)."""
        g = self.gate_size
        if pixels.shape[1:3] != (g, g):
            small = Image.fromarray(np.clip(pixels[0], 0, 255).astype(np.uint8))
            pixels = np.asarray(small.resize((g, g), Image.Resampling.BILINEAR), np.float32)[None]
        prob = self.gate_model(pixels=pixels.astype(np.float32, copy=False))["probability"][0]
        return float(prob.max()) >= self.settings.gate_threshold

    def detect(self, img: Image.Image, scale: float | None = None) -> tuple[np.ndarray, float]:
        """The detector's probability map of the photo scaled by ``scale`` (default: to at
        most ``max_side``, and at least one tile on its short side), from overlapping tiles,
        and the scale."""
        t = self.tile_size
        long_side, short_side = max(img.size), min(img.size)
        if scale is None:
            scale = min(self.settings.max_side / long_side, max(1.0, t / short_side))
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        scaled = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), np.float32)
        prob = np.zeros((h, w), np.float32)
        stride = t - TILE_OVERLAP
        for y in _starts(h, t, stride):
            for x in _starts(w, t, stride):
                tile = np.full((1, t, t, 3), PAD_VALUE, np.float32)
                part = scaled[y : y + t, x : x + t]
                tile[0, : part.shape[0], : part.shape[1]] = part
                out = self.detector(pixels=tile)["probability"][0]
                view = prob[y : y + t, x : x + t]
                np.maximum(view, out[: view.shape[0], : view.shape[1]], out=view)
        return prob, scale

    def _crop(self, img: Image.Image, box: Box, scale: float) -> Image.Image:
        """The box cut out of the photo, ``rec_height`` pixels high, text left to right."""
        corners = box.corners() / scale
        height = box.height / scale
        width = box.width / scale
        out_w = max(1, round(self.rec_height * width / max(height, 1e-6)))
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(img.width, x1), min(img.height, y1)
        region = img.crop((x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)))
        corners = corners - (x0, y0)
        # Downscale with averaging first: the quad transform samples without it.
        factor = int(height // (2 * self.rec_height))
        if factor >= 2:
            region = region.reduce(factor)
            corners = corners / factor
        tl, tr, br, bl = corners
        quad = (*tl, *bl, *br, *tr)
        return region.transform(
            (out_w, self.rec_height), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR
        )

    def recognize(self, line: Image.Image) -> tuple[str, float]:
        """One line image, ``rec_height`` high: its text and confidence."""
        pixels = np.asarray(line, np.float32)
        gray = pixels.mean(axis=2)
        texts: list[str] = []
        probs: list[float] = []
        for start, end, space in _cuts(gray, self.rec_width):
            piece = np.full((1, self.rec_height, self.rec_width, 3), PAD_VALUE, np.float32)
            piece[0, :, : end - start] = pixels[:, start:end]
            out = self.recognizer(pixels=piece)["probabilities"][0]
            text, p = ctc_greedy(out, self.keys)
            text = text.strip()
            if texts and text:
                texts.append(" " if space else "")
            texts.append(text)
            probs += p
        text = " ".join("".join(texts).split())
        return text, (float(np.mean(probs)) if probs else 0.0)

    # -- the whole photo -----------------------------------------------------------------

    def read(self, img: Image.Image) -> Reading:
        """The sure lines of an upright RGB photo, in reading order, and their kind (the
        gate is the caller's: ``gate``)."""
        s = self.settings
        t1 = time.perf_counter()
        prob, scale = self.detect(img)
        found_boxes = boxes(prob, s)
        if found_boxes and scale < 1.0:
            # Small print (a desktop's 14-pixel dialog text, shrunk to fit max_side) is below
            # what DB finds whole: look again at the size that makes it SMALL_TEXT high, up
            # to the photo's own pixels.
            typical = float(np.median([b.height for b in found_boxes]))
            if typical < SMALL_TEXT:
                scale = min(1.0, scale * SMALL_TEXT / typical)
                prob, scale = self.detect(img, scale)
                found_boxes = boxes(prob, s)
        t2 = time.perf_counter()
        found: list[tuple[np.ndarray, str, float]] = []
        for box in found_boxes:
            text, confidence = self.recognize(self._crop(img, box, scale))
            if (
                confidence >= s.min_confidence
                and sum(c.isalnum() for c in text) >= 2
                and _latin_share(text) >= 0.8
            ):
                found.append((box.corners() / scale, text, confidence))
        t3 = time.perf_counter()
        lines = []
        for i in reading_order(found):
            corners, text, confidence = found[i]
            x0, y0 = corners.min(axis=0)
            x1, y1 = corners.max(axis=0)
            where = (
                float(np.clip(x0 / img.width, 0, 1)),
                float(np.clip(y0 / img.height, 0, 1)),
                float(np.clip(x1 / img.width, 0, 1)),
                float(np.clip(y1 / img.height, 0, 1)),
            )
            lines.append(TextLine(text, round(confidence, 4), where))
        found_lines = tuple(lines)
        return Reading(
            found_lines,
            kind_of(found_lines, img),
            detect_ms=(t2 - t1) * 1e3,
            recognize_ms=(t3 - t2) * 1e3,
        )


# -- the text as a whole --------------------------------------------------------------


def full_text(lines: tuple[TextLine, ...]) -> str:
    """Every line, one a line (the GUI's read-the-text key, the outputs' plain text)."""
    return "\n".join(line.text for line in lines)


def text_image(img: Image.Image, max_side: int) -> Image.Image:
    """The photo for reading: line crops come from it, so it keeps up to twice the
    detector's ``max_side`` (a 48-pixel line needs no more)."""
    limit = 2 * max_side
    if max(img.size) <= limit:
        return img
    scale = limit / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
