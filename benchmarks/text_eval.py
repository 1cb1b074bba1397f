"""Score a text reader on the OCR dev set (benchmarks/text_devset.py; issue 25).

    python -m benchmarks.text_eval --bundle models/default   [--devset cache/text-devset]
    python -m benchmarks.text_eval --predictions preds.jsonl
    python -m benchmarks.text_eval --tesseract               [--save-predictions tess.jsonl]

Figures, per kind of image (screenshot, page, photo) and for the three together:

- **word accuracy** = 1 - WER, floored at 0. WER = (substitutions + deletions + insertions)
  / truth words, summed over the kind's images (corpus WER), from a word-level edit
  distance (jiwer) between the truth's lines joined in reading order and the reader's lines
  joined in the order it gives them. So words read in the wrong order count as errors, and
  so do invented words.
- **CER**: the same at the character level (spaces count).
- **recall**: truth words found anywhere in the reading (multiset match, order ignored):
  how much of the text a listener would hear, whatever the order.
- Both are computed on normalised text (Unicode NFKC, typographic quotes and dashes made
  plain, lower case, punctuation at the ends of words dropped: "Don't," and "don't" match);
  "strict" figures keep case and punctuation.
- **no text**: images with text where the reader reported none.
- **false text** (kind "none", text-free photos): the share where the reader reported any
  text at all. An upper bound: a photo whose captions mention nothing text-bearing can
  still show a word; the JSON lists the photos, to look at.
- **time**: per image, p50 and p95 in ms. For --bundle the whole ``Captioner.caption`` call
  (and the text reader's own time where ``Timings`` has it); for --tesseract the process
  (its start and model load included); for --predictions the records' "ms" if they have it.

Exit status 0 after scoring, 2 for a dev set or predictions that cannot be used, 3 when the
engine cannot read text at all (no tesseract, a bundle without a text reader): the message
says why.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import string
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEXT_KINDS = ("screenshot", "page", "photo")


class Unusable(Exception):
    """The dev set or the predictions cannot be scored (exit 2)."""


class NoReader(Exception):
    """The engine asked for cannot read text (exit 3)."""


# -- normalisation and metrics -----------------------------------------------------------------

_PLAIN = str.maketrans(
    {"’": "'", "‘": "'", "“": '"', "”": '"', "—": "-", "–": "-", "…": "...", "\u00a0": " "}
)
_EDGE = string.punctuation + "•·"


def normalise(text: str, strict: bool = False) -> str:
    """The text as scored: NFKC, plain quotes and dashes, single spaces; unless ``strict``
    also lower case with punctuation stripped from both ends of each word (inner
    punctuation stays: "3.40", "don't", "wi-fi")."""
    text = unicodedata.normalize("NFKC", text).translate(_PLAIN)
    words = text.split()
    if not strict:
        words = [w.strip(_EDGE).casefold() for w in words]
    return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Scores:
    images: int
    words: int  # truth words
    wer: float
    cer: float
    recall: float
    strict_wer: float
    strict_cer: float
    no_text: int  # images with text where nothing was read

    @property
    def word_accuracy(self) -> float:
        return max(0.0, 1.0 - self.wer)

    @property
    def strict_word_accuracy(self) -> float:
        return max(0.0, 1.0 - self.strict_wer)

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "word_accuracy": self.word_accuracy,
            "strict_word_accuracy": self.strict_word_accuracy,
        }


def recall(truths: list[str], readings: list[str]) -> float:
    """Truth words found in the readings, each reading word used once, order ignored."""
    found = total = 0
    for truth, reading in zip(truths, readings, strict=True):
        want = Counter(truth.split())
        total += sum(want.values())
        found += sum((want & Counter(reading.split())).values())
    return found / total if total else 0.0


def score_texts(truths: Iterable[str], readings: Iterable[str]) -> Scores:
    """Corpus scores of readings against truths (raw texts, one pair per image)."""
    truths, readings = list(truths), list(readings)
    if not truths:
        return Scores(0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0)
    figures = {}
    for strict in (False, True):
        refs = [normalise(t, strict) for t in truths]
        hyps = [normalise(r, strict) for r in readings]
        if not all(refs):
            raise Unusable("a truth text is empty once normalised")
        figures[strict] = (
            jiwer.process_words(refs, hyps).wer,
            jiwer.process_characters(refs, hyps).cer,
            refs,
            hyps,
        )
    wer, cer, refs, hyps = figures[False]
    return Scores(
        images=len(truths),
        words=sum(len(r.split()) for r in refs),
        wer=wer,
        cer=cer,
        recall=recall(refs, hyps),
        strict_wer=figures[True][0],
        strict_cer=figures[True][1],
        no_text=sum(not h for h in hyps),
    )


def percentiles(ms: list[float]) -> dict:
    if not ms:
        return {"p50_ms": None, "p95_ms": None, "timed": 0}
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "timed": len(ms),
    }


# -- what a reader returns ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    lines: tuple[str, ...]
    confidences: tuple[float | None, ...] = ()
    ms: float | None = None  # the whole call
    text_ms: float | None = None  # the text reader's own share, where known

    def kept(self, min_confidence: float | None) -> Reading:
        """Without the lines whose confidence is below ``min_confidence`` (lines with no
        confidence stay)."""
        if min_confidence is None or not self.confidences:
            return self
        pairs = [
            (t, c)
            for t, c in zip(self.lines, self.confidences, strict=True)
            if c is None or c >= min_confidence
        ]
        return Reading(
            tuple(t for t, _ in pairs), tuple(c for _, c in pairs), self.ms, self.text_ms
        )

    @property
    def text(self) -> str:
        return " ".join(line for line in self.lines if line.strip())

    def record(self, file: str) -> dict:
        record = {
            "file": file,
            "text": [
                {"text": t, "confidence": c}
                for t, c in zip(
                    self.lines, self.confidences or (None,) * len(self.lines), strict=True
                )
            ],
        }
        if self.ms is not None:
            record["ms"] = round(self.ms, 2)
        if self.text_ms is not None:
            record["text_ms"] = round(self.text_ms, 2)
        return record


def reading_from_record(record: dict) -> Reading:
    """A prediction record's reading: "text" as the JSONL output's list of
    {"text", "confidence"}, a list of strings, or one string."""
    text = record.get("text")
    if text is None or text == "":
        lines, confs = (), ()
    elif isinstance(text, str):
        lines, confs = tuple(text.splitlines()), ()
    elif isinstance(text, list):
        items = [t if isinstance(t, dict) else {"text": str(t)} for t in text]
        lines = tuple(str(t.get("text", "")) for t in items)
        confs = tuple(t.get("confidence") for t in items)
        if all(c is None for c in confs):
            confs = ()
    else:
        raise Unusable(
            f"'text' of {record.get('file') or record.get('path')!r} is "
            f"{type(text).__name__}, not a list or a string"
        )
    timings = record.get("timings") if isinstance(record.get("timings"), dict) else {}
    ms = record.get("ms", timings.get("total_ms"))
    text_ms = record.get("text_ms", timings.get("text_ms"))
    return Reading(lines, confs, ms, text_ms)


# -- the dev set and the predictions -----------------------------------------------------------


def load_truth(devset: Path) -> list[dict]:
    path = devset / "truth.jsonl"
    if not path.is_file():
        raise Unusable(
            f"{path} not found: make the dev set with python -m "
            f"benchmarks.text_devset --out {devset}"
        )
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record["path"] = str(image_path(devset, record["file"]))
                if record["kind"] not in TEXT_KINDS + ("none",):
                    raise ValueError(f"unknown kind {record['kind']!r}")
            except (ValueError, KeyError, TypeError) as e:
                raise Unusable(f"{path} line {n}: {e}") from e
            records.append(record)
    return records


def image_path(devset: Path, file: str) -> Path:
    return Path(file) if os.path.isabs(file) else (devset / file).resolve()


def load_predictions(path: Path, devset: Path) -> dict[str, Reading]:
    """{absolute image path: reading} from JSONL records naming the image as "file" or
    "path" (as ``captioner caption --format jsonl`` does), absolute, relative to the current
    folder or relative to the dev set."""
    readings: dict[str, Reading] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise Unusable(f"cannot read {path}: {e.strerror}") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise Unusable(f"{path} line {n}: not JSON ({e})") from e
        name = record.get("file") or record.get("path")
        if not isinstance(name, str):
            raise Unusable(f'{path} line {n}: no "file" or "path"')
        if record.get("error"):
            continue  # an image the engine failed on: scored as no reading
        candidates = [Path(name)] if os.path.isabs(name) else [Path.cwd() / name, devset / name]
        reading = reading_from_record(record)
        for candidate in candidates:
            readings[str(candidate.resolve())] = reading
    return readings


# -- engines -----------------------------------------------------------------------------------


def tesseract_reader(threads: int | None, psm: int) -> Callable[[str], Reading]:
    """Tesseract's command line, one process per image (its own start and model load
    included in the time, as a caller of the CLI pays them)."""
    exe = shutil.which("tesseract")
    if not exe:
        raise NoReader("tesseract is not installed (Debian: apt-get install tesseract-ocr)")
    env = dict(os.environ)
    if threads:
        env["OMP_THREAD_LIMIT"] = str(threads)

    def read(path: str) -> Reading:
        start = time.perf_counter()
        done = subprocess.run(
            [exe, path, "stdout", "--psm", str(psm), "-l", "eng", "tsv"],
            capture_output=True,
            env=env,
            check=False,
        )
        ms = (time.perf_counter() - start) * 1000
        if done.returncode != 0:
            raise RuntimeError(done.stderr.decode(errors="replace").strip()[-300:])
        return parse_tesseract_tsv(done.stdout.decode("utf-8", errors="replace"), ms)

    return read


def parse_tesseract_tsv(tsv: str, ms: float | None = None) -> Reading:
    """Tesseract's TSV → lines in its reading order, each with its words' mean confidence
    (0-1)."""
    lines: dict[tuple, list[tuple[str, float]]] = {}
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") != "5" or not (row.get("text") or "").strip():
            continue
        key = (row["page_num"], row["block_num"], row["par_num"], row["line_num"])
        lines.setdefault(key, []).append((row["text"].strip(), float(row["conf"])))
    texts = tuple(" ".join(w for w, _ in words) for words in lines.values())
    confs = tuple(max(0.0, sum(c for _, c in words) / len(words)) / 100 for words in lines.values())
    return Reading(texts, confs, ms)


def text_lines(result) -> tuple | None:
    """The text lines a ``CaptionResult`` carries (``TextLine``s, per issue 25's contract),
    or None where this build's result has none."""
    for name in ("text", "text_lines", "read_text"):
        value = getattr(result, name, None)
        if isinstance(value, tuple):
            return value
    return None


def bundle_reader(bundle: Path, threads: int | None, beam: int) -> Callable[[str], Reading]:
    """``desktop.captioner.Captioner`` in this process, as the app runs it."""
    from desktop.captioner import Captioner, CaptionerError, CaptionOptions

    try:
        import desktop.text_reader  # noqa: F401  (issue 25's engine)
    except ImportError as e:
        raise NoReader(f"this build has no text reader (desktop/text_reader.py: {e})") from e
    try:
        captioner = Captioner.load(model_dir=bundle, threads=threads)
    except CaptionerError as e:
        raise Unusable(f"cannot load the bundle {bundle}: {e}") from e
    if getattr(captioner, "text_reader", True) is None:
        raise NoReader(f"the bundle {bundle} has no text reader")
    options = CaptionOptions(beam_width=beam, with_attention=False)

    def read(path: str) -> Reading:
        start = time.perf_counter()
        result = captioner.caption(path, options)
        ms = (time.perf_counter() - start) * 1000
        lines = text_lines(result)
        if lines is None:
            raise NoReader(
                "CaptionResult carries no text lines in this build (issue 25's CaptionResult.text)"
            )
        text_ms = getattr(result.timings, "text_ms", None)
        return Reading(
            tuple(line.text for line in lines),
            tuple(float(line.confidence) for line in lines),
            ms,
            text_ms,
        )

    return read


def run_engine(
    read: Callable[[str], Reading], truth: list[dict], progress: bool
) -> tuple[dict[str, Reading], list[str]]:
    readings, errors = {}, []
    for i, record in enumerate(truth, 1):
        try:
            readings[record["path"]] = read(record["path"])
        except NoReader:
            raise
        except Exception as e:  # one bad image is reported, the rest still scored
            errors.append(f"{record['file']}: {e}")
        if progress and (i % 50 == 0 or i == len(truth)):
            print(f"  {i}/{len(truth)}", file=sys.stderr, flush=True)
    return readings, errors


# -- scoring the whole set ---------------------------------------------------------------------


@dataclass
class Report:
    engine: str
    devset: str
    kinds: dict = field(default_factory=dict)
    false_text: dict = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        definitions = __doc__.split("Figures,")[1].split("Exit status")[0].strip()
        return {**asdict(self), "definitions": definitions}


def score(
    truth: list[dict],
    readings: dict[str, Reading],
    engine: str = "",
    devset: str = "",
    min_confidence: float | None = None,
) -> Report:
    """The report of ``readings`` ({absolute image path: Reading}) against the truth. An
    image with no reading counts as nothing read and is listed in ``missing``."""
    report = Report(engine, devset)
    empty = Reading(())
    by_kind: dict[str, list[tuple[dict, Reading]]] = {}
    for record in truth:
        reading = readings.get(record["path"])
        if reading is None:
            report.missing.append(record["file"])
            reading = empty
        by_kind.setdefault(record["kind"], []).append((record, reading.kept(min_confidence)))
    text_pairs = []
    for kind in TEXT_KINDS:
        pairs = by_kind.get(kind, [])
        if not pairs:
            continue
        text_pairs += pairs
        report.kinds[kind] = _kind_figures(pairs)
    if len({k for k in TEXT_KINDS if k in by_kind}) > 1:
        report.kinds["all text"] = _kind_figures(text_pairs)
    free = by_kind.get("none", [])
    if free:
        flagged = [r["file"] for r, reading in free if normalise(reading.text)]
        report.false_text = {
            "images": len(free),
            "with_text": len(flagged),
            "rate": len(flagged) / len(free),
            "files": flagged,
            **_times(free),
        }
    for record, reading in (p for pairs in by_kind.values() for p in pairs):
        item = {"file": record["file"], "kind": record["kind"], "read": list(reading.lines)}
        if record["kind"] != "none":
            s = score_texts([" ".join(record["lines"])], [reading.text])
            item.update(wer=round(s.wer, 4), cer=round(s.cer, 4))
        if reading.ms is not None:
            item["ms"] = round(reading.ms, 1)
        report.images.append(item)
    return report


def _times(pairs: list[tuple[dict, Reading]]) -> dict:
    times = percentiles([r.ms for _, r in pairs if r.ms is not None])
    text = percentiles([r.text_ms for _, r in pairs if r.text_ms is not None])
    if text["timed"]:
        times.update(text_p50_ms=text["p50_ms"], text_p95_ms=text["p95_ms"])
    return times


def _kind_figures(pairs: list[tuple[dict, Reading]]) -> dict:
    s = score_texts([" ".join(r["lines"]) for r, _ in pairs], [x.text for _, x in pairs])
    return {**s.as_dict(), **_times(pairs)}


def _ms(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(report: Report) -> str:
    head = (
        f"{'kind':<11} {'images':>6} {'words':>6} {'word acc':>8} {'strict':>7} "
        f"{'CER':>6} {'recall':>6} {'no text':>7} {'p50 ms':>7} {'p95 ms':>7}"
    )
    rows = [head]
    for kind, k in report.kinds.items():
        rows.append(
            f"{kind:<11} {k['images']:>6} {k['words']:>6} {k['word_accuracy']:>8.3f} "
            f"{k['strict_word_accuracy']:>7.3f} {k['cer']:>6.3f} {k['recall']:>6.3f} "
            f"{k['no_text']:>7} {_ms(k['p50_ms']):>7} {_ms(k['p95_ms']):>7}"
        )
    f = report.false_text
    if f:
        rows.append(
            f"{'none':<11} {f['images']:>6} {'':>6} false text {f['rate']:6.1%} "
            f"({f['with_text']}/{f['images']}){'':>10} {_ms(f['p50_ms']):>7} "
            f"{_ms(f['p95_ms']):>7}"
        )
    text_times = [(kind, k) for kind, k in report.kinds.items() if "text_p50_ms" in k]
    if f and "text_p50_ms" in f:
        text_times.append(("none", f))
    if text_times:
        rows.append(
            "text reader's own time: "
            + ", ".join(
                f"{kind} p50 {_ms(k['text_p50_ms'])} / p95 {_ms(k['text_p95_ms'])} ms"
                for kind, k in text_times
            )
        )
    if report.missing:
        rows.append(
            f"{len(report.missing)} image(s) had no reading (scored as nothing read), "
            f"first: {report.missing[0]}"
        )
    if report.errors:
        rows.append(f"{len(report.errors)} image(s) failed, first: {report.errors[0]}")
    return "\n".join(rows)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def write_predictions(path: Path, truth: list[dict], readings: dict[str, Reading]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for record in truth:
            if record["path"] in readings:
                f.write(
                    json.dumps(readings[record["path"]].record(record["path"]), ensure_ascii=False)
                    + "\n"
                )
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.text_eval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    engine = p.add_mutually_exclusive_group(required=True)
    engine.add_argument(
        "--bundle",
        type=Path,
        metavar="DIR",
        help="run desktop.captioner.Captioner on this model bundle",
    )
    engine.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE.jsonl",
        help='score records with "file" (or "path") and "text"',
    )
    engine.add_argument(
        "--tesseract", action="store_true", help="the tesseract command line, as a baseline"
    )
    p.add_argument("--devset", type=Path, default=ROOT / "cache" / "text-devset")
    p.add_argument(
        "--kinds", nargs="+", choices=TEXT_KINDS + ("none",), help="score only these kinds"
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N images per kind")
    p.add_argument(
        "--min-confidence",
        type=float,
        metavar="C",
        help="drop read lines whose confidence (0-1) is below C",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="threads for the engine (tesseract: OMP_THREAD_LIMIT; bundle: Captioner threads)",
    )
    p.add_argument("--beam", type=int, default=3, help="--bundle: beam width (default 3)")
    p.add_argument(
        "--psm",
        type=int,
        default=3,
        help="--tesseract: page segmentation mode (default 3, automatic)",
    )
    p.add_argument("--out", type=Path, metavar="FILE.json", help="write all figures as JSON")
    p.add_argument(
        "--save-predictions",
        type=Path,
        metavar="FILE.jsonl",
        help="write the engine's readings, to score again with --predictions",
    )
    args = p.parse_args(argv)
    devset = args.devset.resolve()
    try:
        truth = load_truth(devset)
        if args.kinds:
            truth = [r for r in truth if r["kind"] in args.kinds]
        if args.limit:
            seen: Counter = Counter()
            kept = []
            for r in truth:
                seen[r["kind"]] += 1
                if seen[r["kind"]] <= args.limit:
                    kept.append(r)
            truth = kept
        errors: list[str] = []
        if args.predictions:
            readings = load_predictions(args.predictions, devset)
            name = f"predictions {args.predictions}"
        else:
            if args.tesseract:
                read = tesseract_reader(args.threads, args.psm)
                version = subprocess.run(
                    ["tesseract", "--version"], capture_output=True, text=True, check=False
                ).stdout.split("\n")[0]
                name = f"{version} (--psm {args.psm}, eng)"
            else:
                read = bundle_reader(args.bundle, args.threads, args.beam)
                name = f"bundle {args.bundle}"
            print(f"reading {len(truth)} images with {name}", file=sys.stderr)
            readings, errors = run_engine(read, truth, progress=True)
            if args.save_predictions:
                write_predictions(args.save_predictions, truth, readings)
    except Unusable as e:
        print(f"text_eval: {e}", file=sys.stderr)
        return 2
    except NoReader as e:
        print(f"text_eval: skipped, no text reader: {e}", file=sys.stderr)
        return 3
    if args.min_confidence is not None:
        name += f", lines with confidence >= {args.min_confidence}"
    report = score(truth, readings, name, str(devset), args.min_confidence)
    report.errors = errors
    print(name)
    print(table(report))
    if args.out:
        write_json(args.out, report.as_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
