"""The ``Captioner`` facade: the only way the GUI, CLI and service run the model.

See docs/architecture.md. One ``Captioner`` owns one encoder and one decoder interpreter;
LiteRT interpreters are not thread-safe, so every model call happens under ``self._lock``.
Photos are decoded on a thread pool (Pillow releases the GIL) while the model runs.

Why one module of this size: it is the one place where a photo becomes a ``CaptionResult``
(detector, encoder, text reader, decode loop, objects, confidence, in that order under one
lock); the pieces it calls live elsewhere (decoding.py, grounding.py, confidence.py,
text_reader.py, wording.py), and splitting the sequence would spread one lock's story over
several files.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop import BundleError, CaptionerError, PhotoError
from desktop.bundle import Bundle, load_bundle
from desktop.confidence import confidence_features
from desktop.decoding import Decoder, Neutral, sentence
from desktop.detections import Detections, detections
from desktop.grounding import Evidence, Grounding
from desktop.images import PhotoSource, load_pixels, open_photo, source_name
from desktop.objects import DetectedObject
from desktop.paths import default_model_dir
from desktop.runtime import (
    Model,
    RuntimeOptions,
    default_accelerator,
    runtime_log,
    runtime_warning,
)
from desktop.text_reader import NO_TEXT, Reading, TextLine, TextReader, full_text, text_image
from desktop.wording import TEXT_KINDS, caption_words, kind_caption, spoken

__all__ = [
    "BundleError",
    "CaptionItem",
    "CaptionOptions",
    "CaptionResult",
    "Captioner",
    "CaptionerError",
    "DetectedObject",
    "PhotoError",
    "TextLine",
    "Timings",
]


# Groups scored below this get no word bonus (their bonus would be under 0.05 × bonus).
GUIDANCE_FLOOR = 0.05
# Off: measured on both dev sets (MODEL_CARD.md), neutralising the unsure man/woman choices
# turned 8-40 % more people captions neutral and left the gender errors as they were (the
# model's wrong genders are confident ones). Kept as an option for a better-calibrated model.
GENDER_SHARE = 0.0
# Gendered word pairs and the word that is right whichever the photo shows.
GENDER_PAIRS = (
    ("man", "woman", "person"),
    ("men", "women", "people"),
    ("boy", "girl", "child"),
    ("boys", "girls", "children"),
    ("guy", "lady", "person"),
)


@dataclass(frozen=True)
class CaptionOptions:
    beam_width: int = 3
    max_length: int | None = None  # None → the bundle's max_length
    with_attention: bool = True
    # Logit bonus per unit of object score for the words that name a seen object (None: the
    # bundle's `objects.word_bonus`, 0 where it has none).
    word_bonus: float | None = None
    # Format 4: the words of a COCO thing (people included) that neither the detector nor
    # the classifier scores at this floor are never said (None: the bundle's
    # `detector.ground_floor`; 0: no grounding).
    ground_floor: float | None = None
    # No caption says the same n words twice ("a coffee cup with a coffee cup"); 0: off.
    no_repeat: int = 3
    # "man" / "woman" (and boy / girl, men / women) only when one holds this share of the
    # pair's probability, else "person" ("child", "people"): a wrong gender is a confident
    # error a blind user cannot catch. 0: off.
    gender_share: float = GENDER_SHARE
    # Read the text in the photo where the bundle has a text reader (`--no-text`: off).
    read_text: bool = True


@dataclass(frozen=True)
class Timings:
    load_ms: float  # reading + decoding + resizing the photo
    encode_ms: float
    decode_ms: float
    total_ms: float
    objects_ms: float = 0.0  # naming the objects and the confidence (the classifier itself
    # runs inside the encoder, in encode_ms)
    text_ms: float = 0.0  # reading the text: the gate, and where it saw text the rest
    detect_ms: float = 0.0  # the COCO detector (format 4), box decoding and NMS included


@dataclass(frozen=True, eq=False)
class CaptionResult:
    text: str  # "A dog runs through the grass."
    words: tuple[str, ...]
    score: float  # length-normalised log-probability (mean per token incl. <end>)
    # [len(words), grid_h, grid_w] float32, read-only, each word's weights over the photo summing
    # to 1 (concept positions left out); empty if not asked
    attention: np.ndarray
    timings: Timings
    # What the classifier sees, highest score first, above the bundle's threshold; empty for
    # a bundle without objects (format 1).
    objects: tuple[DetectedObject, ...] = ()
    # Estimated probability that the caption names the photo's main subject (calibrated on
    # dev photos); None where the bundle has no calibration (format 1).
    confidence: float | None = None
    unsure: bool = False  # confidence below the bundle's calibrated threshold
    # The text read in the photo, in reading order (empty where none is sure or the bundle
    # has no text reader), and what kind of photo it makes it: "" (no text), "short", or
    # "screenshot" / "page", whose caption then says so ("A screenshot with text.")
    # instead of describing a scene (score 0, no objects, no confidence).
    text_lines: tuple[TextLine, ...] = ()
    text_kind: str = ""

    @property
    def spoken_text(self) -> str:
        """Everything read aloud: 'Not sure: a man sitting on a wall. Text: EXIT. I see:
        cat.'"""
        return spoken(self.text, self.unsure, self.objects, self.text_lines, self.text_kind)

    @property
    def full_text(self) -> str:
        """All the text read, one line a line ("" where none)."""
        return full_text(self.text_lines)


@dataclass(frozen=True, eq=False)
class CaptionItem:
    path: str | os.PathLike
    result: CaptionResult | None
    error: CaptionerError | None  # exactly one of result / error is set


ProgressFn = Callable[[int, int | None], None]


class Captioner:
    def __init__(self, bundle: Bundle, options: RuntimeOptions | None = None):
        options = options or RuntimeOptions()
        self.bundle = bundle
        self.options = options
        # quiet: a GPU that is missing fails every model alike; one line below says so.
        self.encoder = Model(bundle.encoder.path, bundle.encoder.signature, options, quiet=True)
        self.decoder_model = Model(
            bundle.decoder.path,
            bundle.decoder.signature,
            dataclasses.replace(options, threads=options.decoder_threads or options.threads),
            quiet=True,
        )
        self.detector_model: Model | None = None
        self.anchors: np.ndarray | None = None
        if bundle.detector is not None:
            self.detector_model = Model(
                bundle.detector.model.path, bundle.detector.model.signature, options, quiet=True
            )
            self.anchors = _anchors(bundle.detector.anchors)
        self.text_reader: TextReader | None = None
        self._document_classes = np.zeros(0, np.int64)
        if bundle.text_reader is not None:
            self.text_reader = TextReader(bundle.text_reader, options)
            self._document_classes = np.array(bundle.text_reader.document_classes, np.int64)
        self._report_fallback()
        self.grounding = _grounding(bundle)
        self._check_signatures()
        self._lock = threading.Lock()
        # Bound once: the decode loop calls this per step.
        step = self.decoder_model
        self.decoder = Decoder(
            step=lambda token, hidden, features: _step_outputs(
                step(token=token, hidden=hidden, features=features)
            ),
            tokens=bundle.tokens,
            vocab_size=bundle.vocab_size,
            units=bundle.units,
            max_length=bundle.max_length,
        )

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike | None = None,
        threads: int | None = None,
        delegate: str | None = None,
        accelerator: str | None = None,
    ) -> Captioner:
        """Load and check a bundle (``None`` → the shipped models/default; accelerator ``None``
        → ``$CAPTIONER_ACCELERATOR`` or auto)."""
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        options = RuntimeOptions(
            threads=threads, delegate=delegate, accelerator=accelerator or default_accelerator()
        )
        bundle = load_bundle(default_model_dir() if model_dir is None else Path(model_dir))
        return cls(bundle, options)

    @property
    def delegate_active(self) -> bool:
        return self.encoder.delegate_active or self.decoder_model.delegate_active

    @property
    def models(self) -> list[Model]:
        reader = self.text_reader
        text = (reader.gate_model, reader.detector, reader.recognizer) if reader else ()
        return [m for m in (self.encoder, self.detector_model, self.decoder_model, *text) if m]

    @property
    def accelerator(self) -> str:
        """Where the photo's heavy work runs (the encoder, and the detector with it): cpu, gpu,
        npu or delegate. The decoder step stays on the CPU by design (runtime.Model)."""
        return self.encoder.accelerator

    def placement(self) -> str:
        """Each model and where it runs, for ``captioner info`` and the GUI, e.g.
        "encoder.tflite: gpu (97 of 101 ops on the GPU, 4 on the CPU); decoder_step.tflite: cpu
        (its input shapes change between calls; …)"."""
        parts = []
        for m in self.models:
            why = m.partial if m.accelerator != "cpu" else m.fallback
            parts.append(f"{m.path.name}: {m.accelerator}" + (f" ({why})" if why else ""))
        return "; ".join(parts)

    def _report_fallback(self) -> None:
        """One line, not one per model, when the GPU/NPU asked for could not take the photo's
        models; `auto` finding none is no surprise and says so only in the log (-v)."""
        asked = self.options.accelerator
        if self.options.delegate or asked == "cpu":
            return
        # The decoder step stays on the CPU by design (runtime.Model), never a fallback.
        failed = [
            m
            for m in self.models
            if m is not self.decoder_model and m.accelerator == "cpu" and m.fallback
        ]
        if not failed:
            return
        why = failed[0].fallback
        if asked == "auto":
            runtime_log.info(
                "accelerator auto: none usable (%s); running on the CPU (XNNPACK)", why
            )
            return
        which = "" if self.encoder in failed else f" for {', '.join(m.path.name for m in failed)}"
        runtime_warning(
            f"accelerator {asked} not used{which} ({why}); running on the CPU (XNNPACK)"
        )

    def _check_signatures(self) -> None:
        b = self.bundle
        cells, dim = b.positions, b.feature_dim
        expected: dict[tuple[Model, str], dict[str, tuple[int, ...]]] = {
            (self.encoder, "in"): {"pixels": (1, *b.input_size, 3)},
            (self.encoder, "out"): {"features": (1, cells, dim)},
            (self.decoder_model, "in"): {
                "token": (-1,),
                "hidden": (-1, b.units),
                "features": (-1, cells, dim),
            },
            (self.decoder_model, "out"): {
                "logits": (-1, b.vocab_size),
                "new_hidden": (-1, b.units),
                "attention": (-1, cells),
            },
        }
        if b.namer is None or b.objects_output is None:
            # No classifier (format 1): the gate alone decides where text is.
            self._document_classes = np.zeros(0, np.int64)
        else:
            expected[(self.encoder, "out")][b.objects_output] = (1, b.namer.classes)
            documents = self._document_classes
            if len(documents) and (documents.max() >= b.namer.classes or documents.min() < 0):
                raise BundleError(
                    "manifest.json: text_reader.document_classes must be classes of the "
                    "encoder's classifier"
                )
        if self.detector_model is not None and b.detector is not None and self.anchors is not None:
            columns, anchors = len(b.detector.settings.labels), len(self.anchors)
            if "detections" in self.encoder.inputs:  # absent: objects and grounding only
                expected[(self.encoder, "in")]["detections"] = (1, columns)
            expected[(self.detector_model, "in")] = {"pixels": (1, *b.input_size, 3)}
            expected[(self.detector_model, "out")] = {
                "scores": (1, anchors, columns),
                "boxes": (1, anchors, 4),
            }
        for (model, side), tensors in expected.items():
            actual = model.inputs if side == "in" else model.outputs
            for name, shape in tensors.items():
                if name not in actual:
                    raise BundleError(
                        f"{model.path.name}: signature {model.signature!r} has no "
                        f"{'input' if side == 'in' else 'output'} {name!r} "
                        f"(has {', '.join(sorted(actual))})"
                    )
                got = actual[name].shape
                # -1: the batch of the decoder step is resizable; a model may leave more
                # dimensions dynamic (the exporter leaves L open), which is fine.
                ok = len(got) == len(shape) and all(
                    e == -1 or g in (-1, e) for g, e in zip(got, shape, strict=True)
                )
                if not ok:
                    raise BundleError(
                        f"{model.path.name}: {name} has shape {list(got)}, the manifest implies "
                        f"{['B' if e == -1 else e for e in shape]}"
                    )

    # -- single photos -------------------------------------------------------------------

    def pixels(self, source: PhotoSource) -> np.ndarray:
        """The encoder input for a photo (thread-safe; no model call)."""
        return load_pixels(source, self.bundle.input_size)

    def caption(self, source: PhotoSource, options: CaptionOptions | None = None) -> CaptionResult:
        """Caption a path, PIL image or encoded bytes.

        Raises ``PhotoError`` for a photo that cannot be read.
        """
        start = time.perf_counter()
        pixels = self.pixels(source)
        return self.caption_pixels(
            pixels, options, load_ms=(time.perf_counter() - start) * 1e3, source=source
        )

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._encode(pixels, self._detect(pixels))["features"].astype(
                np.float32, copy=False
            )

    def detect(self, pixels: np.ndarray) -> Detections:
        """What the COCO detector finds (format 4; BundleError for an older bundle)."""
        with self._lock:
            found = self._detect(pixels)
        if found is None:
            raise BundleError(f"the model {self.bundle.name!r} has no object detector")
        return found

    def _detect(self, pixels: np.ndarray) -> Detections | None:
        b = self.bundle
        if self.detector_model is None or b.detector is None or self.anchors is None:
            return None
        out = self.detector_model(pixels=pixels)
        return detections(out["scores"][0], out["boxes"][0], self.anchors, b.detector.settings)

    def _encode(self, pixels: np.ndarray, found: Detections | None) -> dict[str, np.ndarray]:
        if found is None or "detections" not in self.encoder.inputs:
            return self.encoder(pixels=pixels)
        return self.encoder(pixels=pixels, detections=found.best[None].astype(np.float32))

    def caption_pixels(
        self,
        pixels: np.ndarray,
        options: CaptionOptions | None = None,
        load_ms: float = 0.0,
        source: PhotoSource | None = None,
    ) -> CaptionResult:
        """Caption the encoder's pixels; the text is read only where ``source`` (the photo
        the pixels came from) is given, as it needs the photo at a higher resolution."""
        options = options or CaptionOptions()
        if not np.isfinite(pixels).all():
            # A full-integer encoder's QUANTIZE would turn NaN into a number and the photo
            # would get a caption made up from nothing; a decoded photo never holds NaN.
            raise CaptionerError("the photo's pixels hold invalid numbers (NaN or infinity)")
        with self._lock:
            t0 = time.perf_counter()
            found = self._detect(pixels)
            t_detected = time.perf_counter()
            encoded = self._encode(pixels, found)
            features = encoded["features"].astype(np.float32, copy=False)
            evidence = self._evidence(encoded, found)
            t1 = time.perf_counter()
            reading = self._read_text(pixels, encoded, source, options)
            text_ms = (time.perf_counter() - t1) * 1e3
            if reading.kind in TEXT_KINDS:
                return self._text_photo(reading, load_ms, (t1 - t0) * 1e3, text_ms)
            t1 = time.perf_counter()
            decoded = self.decoder.decode(
                features,
                beam_width=options.beam_width,
                max_length=options.max_length,
                with_attention=options.with_attention,
                guidance=self._guidance(evidence, options),
                bias=self._ruled_out(evidence, options),
                no_repeat=options.no_repeat,
                neutral=self._neutral,
                min_share=options.gender_share,
            )
            t2 = time.perf_counter()
        if not np.isfinite(decoded.score) or set(decoded.tokens) & set(self.bundle.tokens.specials):
            # NaN/inf from the model (a broken export, a delegate bug, hostile pixels): the
            # argmax of NaN is <pad>. Say so rather than speak a made-up caption.
            raise CaptionerError(
                "the model produced invalid numbers (NaN or infinity) for this photo; no caption"
            )
        words = self.bundle.words(decoded.tokens)  # none is a special: refused just above
        gh, gw = self.bundle.feature_grid
        attention = (
            _on_photo(decoded.attention, gh, gw)
            if decoded.attention is not None
            else np.zeros((0, gh, gw), dtype=np.float32)
        )
        attention.setflags(write=False)
        t3 = time.perf_counter()
        objects, confidence = self._objects(evidence, words, float(decoded.score))
        objects_ms = (time.perf_counter() - t3) * 1e3
        detect_ms = (t_detected - t0) * 1e3
        encode_ms, decode_ms = (t1 - t_detected) * 1e3 - text_ms, (t2 - t1) * 1e3
        calibration = self.bundle.calibration
        return CaptionResult(
            text=sentence(words),
            words=words,
            score=float(decoded.score),
            attention=attention,
            objects=objects,
            confidence=confidence,
            unsure=confidence is not None
            and calibration is not None
            and confidence < calibration.unsure_below,
            timings=Timings(
                load_ms=load_ms,
                encode_ms=encode_ms,
                decode_ms=decode_ms,
                total_ms=load_ms + detect_ms + encode_ms + decode_ms + objects_ms + text_ms,
                objects_ms=objects_ms,
                text_ms=text_ms,
                detect_ms=detect_ms,
            ),
            text_lines=reading.lines,
            text_kind=reading.kind,
        )

    def _read_text(
        self,
        pixels: np.ndarray,
        encoded: dict[str, np.ndarray],
        source: PhotoSource | None,
        options: CaptionOptions,
    ) -> Reading:
        """The text of the photo (under the lock). The fast path: the gate on the encoder's
        pixels finds nothing and the classifier sees no document (web site, menu, page…),
        and nothing more is decoded or run."""
        reader = self.text_reader
        if reader is None or not options.read_text or source is None:
            return NO_TEXT
        sure = reader.gate(pixels)
        if not sure and len(self._document_classes) and self.bundle.objects_output:
            # Small print (a page, a settings screen) is below what the gate sees; the
            # classifier knows a document or a screen when it sees one.
            share = float(encoded[self.bundle.objects_output][0, self._document_classes].sum())
            sure = share >= reader.part.document_threshold
        if not sure:
            return NO_TEXT
        try:
            photo = open_photo(source, min_size=(reader.settings.max_side,) * 2)
        except PhotoError as e:
            # Decoded once already for the caption; a second, larger decode that fails (the
            # memory budget, a file changed meanwhile) costs the text, never the caption.
            runtime_log.info("text not read: %s", e)
            return NO_TEXT
        return reader.read(text_image(photo, reader.settings.max_side))

    def _text_photo(
        self, reading: Reading, load_ms: float, encode_ms: float, text_ms: float
    ) -> CaptionResult:
        """A screenshot's or a page's result: the caption says what it is, and the decoder
        is not asked to make up a scene for it."""
        text = kind_caption(reading.lines, reading.kind)
        words = caption_words(text)
        gh, gw = self.bundle.feature_grid
        attention = np.zeros((len(words), gh, gw), np.float32)
        attention.setflags(write=False)
        return CaptionResult(
            text=text,
            words=words,
            score=0.0,
            attention=attention,
            timings=Timings(
                load_ms=load_ms,
                encode_ms=encode_ms,
                decode_ms=0.0,
                total_ms=load_ms + encode_ms + text_ms,
                text_ms=text_ms,
            ),
            text_lines=reading.lines,
            text_kind=reading.kind,
        )

    def _evidence(
        self, encoded: dict[str, np.ndarray], found: Detections | None
    ) -> Evidence | None:
        """What the classifier (and detector) see, per group; None without a classifier or
        when an output is not finite (``_objects`` reports that)."""
        b = self.bundle
        if b.namer is None or b.objects_output is None or self.grounding is None:
            return None
        probabilities = encoded[b.objects_output]
        if not np.isfinite(probabilities).all() or (
            found is not None and not np.isfinite(found.best).all()
        ):
            return None
        return self.grounding.evidence(b.namer.name_scores(probabilities), found)

    def _guidance(self, evidence: Evidence | None, options: CaptionOptions) -> np.ndarray | None:
        """Logit bonuses ``[groups seen, vocab]`` for the words of what the photo shows
        (``bonus × group score``): the decoder learned those words from caption text, this
        tips it towards saying them for this photo. None without a bonus or a classifier."""
        b = self.bundle
        bonus = b.word_bonus if options.word_bonus is None else options.word_bonus
        if not bonus or evidence is None:
            return None
        scores = evidence.scores
        group_ids, word_ids = self._group_words
        # Only groups with some evidence: a row per group of a 4,000-word vocabulary is
        # cheap, but hundreds of near-zero rows would be work for nothing.
        seen = np.flatnonzero(scores >= GUIDANCE_FLOOR)
        rows = np.zeros((len(seen), b.vocab_size), np.float32)
        for row, group in enumerate(seen):
            rows[row, word_ids[group_ids == group]] = bonus * scores[group]
        return rows

    def _ruled_out(self, evidence: Evidence | None, options: CaptionOptions) -> np.ndarray | None:
        """A logit mask ``[vocab]`` that refuses the words of COCO things (people included)
        that nothing in the photo supports: a blind user cannot check an invented stranger.
        None where the bundle has no detector or grounding is off."""
        if evidence is None or self.grounding is None:
            return None
        groups = self.grounding.ruled_out(evidence, options.ground_floor)
        people = self.grounding.people_ruled_out(evidence, groups, options.ground_floor)
        if not len(groups) and not people:
            return None
        group_ids, word_ids = self._group_words
        mask = np.zeros(self.bundle.vocab_size, np.float32)
        mask[word_ids[np.isin(group_ids, groups)]] = -np.inf
        index = self._word_index
        mask[[index[w] for w in people if w in index]] = -np.inf
        return mask

    @functools.cached_property
    def _word_index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.bundle.vocabulary)}

    @functools.cached_property
    def _neutral(self) -> tuple[Neutral, ...]:
        index = self._word_index
        return tuple(
            Neutral(index[a], index[b], index[n])
            for a, b, n in GENDER_PAIRS
            if a in index and b in index and n in index
        )

    @functools.cached_property
    def _group_words(self) -> tuple[np.ndarray, np.ndarray]:
        """(group index, vocabulary id) pairs: the one-word forms that name each group."""
        grounding = self.grounding
        if grounding is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        index = self._word_index
        pairs = [
            (grounding.index[group], index[form])
            for form, group in grounding.terms.group_of.items()
            if " " not in form and form in index and group in grounding.index
        ]
        groups, ids = zip(*sorted(pairs), strict=True) if pairs else ((), ())
        return np.array(groups, np.int64), np.array(ids, np.int64)

    def _objects(
        self, evidence: Evidence | None, words: tuple[str, ...], score: float
    ) -> tuple[tuple[DetectedObject, ...], float | None]:
        """The photo's objects and the caption's confidence, from its evidence."""
        b = self.bundle
        if b.namer is None or b.objects_output is None or self.grounding is None:
            return (), None
        if evidence is None:  # as for the caption: never a made-up answer
            raise CaptionerError(
                "the model produced invalid numbers (NaN or infinity) for this photo's objects"
            )
        objects = self.grounding.objects(evidence)
        if b.calibration is None:
            return objects, None
        values = confidence_features(score, words, evidence, self.grounding)
        return objects, b.calibration.confidence(values)

    # -- many photos ---------------------------------------------------------------------

    def caption_many(
        self,
        paths: Iterable[PhotoSource],
        options: CaptionOptions | None = None,
        cancel: threading.Event | None = None,
        on_progress: ProgressFn | None = None,
        workers: int | None = None,
    ) -> Iterator[CaptionItem]:
        """Caption photos in input order, decoding upcoming photos while the model runs.

        Every input yields exactly one ``CaptionItem``; a bad photo is an item with ``error``
        set, never an exception. Stops after the current photo once ``cancel`` is set.
        ``on_progress(done, total)`` is called after each photo (``total`` is None when
        ``paths`` has no length). Only a bounded window of photos is decoded ahead, so
        memory stays flat however many photos there are.
        """
        options = options or CaptionOptions()
        try:
            total: int | None = len(paths)  # type: ignore[arg-type]
        except TypeError:
            total = None
        workers = workers or max(1, min(4, os.cpu_count() or 1))
        ahead = 2 * workers + 1
        size = self.bundle.input_size

        def load(source: PhotoSource) -> tuple[np.ndarray, float]:
            start = time.perf_counter()
            return load_pixels(source, size), (time.perf_counter() - start) * 1e3

        pending: deque[tuple[PhotoSource, Future[tuple[np.ndarray, float]]]] = deque()
        source_iter = iter(paths)
        done = 0
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="photo") as pool:
            try:
                while True:
                    while len(pending) < ahead and (cancel is None or not cancel.is_set()):
                        try:
                            source = next(source_iter)
                        except StopIteration:
                            break
                        pending.append((source, pool.submit(load, source)))
                    if not pending or (cancel is not None and cancel.is_set()):
                        break
                    source, future = pending.popleft()
                    item = self._finish(source, future, options)
                    done += 1
                    if on_progress is not None:
                        on_progress(done, total)
                    yield item
            finally:
                for _, future in pending:
                    future.cancel()

    def _finish(
        self,
        source: PhotoSource,
        future: Future[tuple[np.ndarray, float]],
        options: CaptionOptions,
    ) -> CaptionItem:
        path = source if isinstance(source, str | os.PathLike) else source_name(source)
        try:
            pixels, load_ms = future.result()
            result = self.caption_pixels(pixels, options, load_ms=load_ms, source=source)
        except CaptionerError as e:
            return CaptionItem(path=path, result=None, error=e)
        except Exception as e:  # one broken photo must not end a batch
            return CaptionItem(
                path=path,
                result=None,
                error=PhotoError(source_name(source), f"{type(e).__name__}: {e}"),
            )
        return CaptionItem(path=path, result=result, error=None)


def _grounding(bundle: Bundle) -> Grounding | None:
    if bundle.namer is None:
        return None
    d = bundle.detector
    if d is None:
        return Grounding(bundle.namer)
    return Grounding(bundle.namer, d.settings.labels, d.threshold, d.ground_floor)


def _anchors(path: Path) -> np.ndarray:
    """The detector's anchors ``[A, 4]`` (``anchors.npy``, checked like every bundle file)."""
    try:
        anchors = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BundleError(f"{path.name}: not a NumPy array file ({e})") from e
    if anchors.ndim != 2 or anchors.shape[1] != 4 or not np.isfinite(anchors).all():
        raise BundleError(f"{path.name}: anchors must be finite [A, 4], got {list(anchors.shape)}")
    return anchors.astype(np.float32)


def _on_photo(attention: np.ndarray, gh: int, gw: int) -> np.ndarray:
    """Per word, where on the photo the model looked: the grid cells' share of the attention,
    rescaled to sum to 1 (the concept positions after the grid are not places)."""
    grid = attention[:, : gh * gw].reshape(len(attention), gh, gw)
    total = grid.sum(axis=(1, 2), keepdims=True)
    return np.divide(grid, total, out=np.zeros_like(grid), where=total > 0)


def _step_outputs(out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return out["logits"], out["new_hidden"], out["attention"]
