"""Caption metrics with pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr (COCO caption protocol).

``score`` is the full evaluation: captions are PTB-tokenised with the Stanford tokenizer that
ships in pycocoevalcap, exactly as the COCO evaluation server does, then scored. The tokenizer
and METEOR are Java programs (Java 8+ on PATH). SPICE is left out: it downloads Stanford models.

``bleu4`` is the cheap per-epoch dev score: pure Python, no Java, lowercase tokens from
:func:`converter.text.normalize` (the vocabulary's own tokenisation).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor import meteor as _meteor_module
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer import ptbtokenizer as _ptb

from converter import text

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")

_TOKENIZER_JAR = Path(_ptb.__file__).resolve().parent / _ptb.STANFORD_CORENLP_3_4_1_JAR
_METEOR_DIR = Path(_meteor_module.__file__).resolve().parent
# Longest we wait for one Java call; METEOR loads a 59 MB paraphrase table first.
_JAVA_TIMEOUT_S = 600


class MetricsError(Exception):
    """Captions that cannot be scored, or a Java scorer that failed (message says why)."""


def score(
    references: Mapping[str, Sequence[str]],
    hypotheses: Mapping[str, str],
    with_meteor: bool = True,
) -> dict[str, float]:
    """Corpus scores of ``hypotheses`` (one caption per photo id) against ``references``.

    Both mappings must cover the same photo ids. CIDEr's document frequencies come from the
    references given, so it is only meaningful over a corpus (hundreds of photos), not one.
    METEOR starts a JVM that loads a 59 MB paraphrase table (~15 s); ``with_meteor=False``
    leaves the "METEOR" key out.
    """
    _check(references, hypotheses)
    ids = sorted(hypotheses)
    gts = ptb_tokenize({i: list(references[i]) for i in ids})
    res = ptb_tokenize({i: [hypotheses[i]] for i in ids})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    results = {f"BLEU-{n + 1}": float(b) for n, b in enumerate(bleu)}
    if with_meteor:
        results["METEOR"] = meteor(gts, res)
    results["ROUGE-L"] = float(Rouge().compute_score(gts, res)[0])
    results["CIDEr"] = float(Cider().compute_score(gts, res)[0])
    return {name: results[name] for name in METRICS if name in results}


def bleu4(references: Mapping[str, Sequence[str]], hypotheses: Mapping[str, str]) -> float:
    """Corpus BLEU-4 without Java, for dev scoring between epochs (not comparable to papers)."""
    _check(references, hypotheses)
    gts = {i: [" ".join(text.normalize(r)) for r in references[i]] for i in hypotheses}
    res = {i: [" ".join(text.normalize(h))] for i, h in hypotheses.items()}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(bleu[3])


def _check(references: Mapping[str, Sequence[str]], hypotheses: Mapping[str, str]) -> None:
    if not hypotheses:
        raise MetricsError("no hypotheses to score")
    missing = sorted(set(hypotheses) - set(references))
    extra = sorted(set(references) - set(hypotheses))
    if missing or extra:
        raise MetricsError(
            "references and hypotheses must cover the same photos: "
            f"{len(missing)} hypothesis id(s) without references {missing[:3]}, "
            f"{len(extra)} reference id(s) without a hypothesis {extra[:3]}"
        )
    for image_id, refs in references.items():
        if isinstance(refs, str):
            raise MetricsError(f"references[{image_id!r}] must be a list of captions, not a str")
        if not any(r.strip() for r in refs):
            raise MetricsError(f"photo {image_id!r} has no non-empty reference caption")
    for image_id, hyp in hypotheses.items():
        if not isinstance(hyp, str):
            raise MetricsError(f"hypotheses[{image_id!r}] must be one caption (str)")


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise MetricsError(
            "the PTB tokenizer and METEOR need Java, but `java` is not on PATH "
            "(install a JRE, e.g. Debian's openjdk-17-jre-headless)"
        )
    return java


def ptb_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """pycocoevalcap's PTBTokenizer (same jar, flags and punctuation filter), made robust.

    Upstream writes its temp file into site-packages, ignores the exit status and silently
    misaligns captions if Java prints fewer lines; here each of those is an error.
    """
    keys = [k for k, caps in captions.items() for _ in caps]
    # One caption per line: any newline inside a caption would shift every later one.
    lines = [" ".join(c.split()) for caps in captions.values() for c in caps]
    with tempfile.TemporaryDirectory(prefix="ptb-") as tmp:
        source = Path(tmp) / "captions.txt"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        command = [
            _java(), "-Dfile.encoding=UTF-8", "-cp", str(_TOKENIZER_JAR),
            "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines", "-lowerCase",
            "-encoding", "utf-8", str(source),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command, capture_output=True, timeout=_JAVA_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise MetricsError(f"PTB tokenizer timed out after {_JAVA_TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise MetricsError(f"PTB tokenizer failed (exit {done.returncode}): {_tail(done.stderr)}")
    output = done.stdout.decode("utf-8", errors="replace").split("\n")
    if len(output) < len(lines) or any(output[len(lines) :]):
        raise MetricsError(
            f"PTB tokenizer returned {len(output)} lines for {len(lines)} captions: "
            f"{_tail(done.stderr)}"
        )
    tokenized: dict[str, list[str]] = {k: [] for k in captions}
    for key, line in zip(keys, output, strict=False):
        words = [w for w in line.rstrip().split(" ") if w and w not in _ptb.PUNCTUATIONS]
        tokenized[key].append(" ".join(words))
    return tokenized


def meteor(gts: dict[str, list[str]], res: dict[str, list[str]]) -> float:
    """Corpus METEOR 1.5 over PTB-tokenised captions (pycocoevalcap's jar and protocol)."""
    scorer = _Meteor()
    try:
        return scorer.compute_score(gts, res)[0]
    finally:
        scorer.close()


class _Meteor(Meteor):
    """pycocoevalcap's Meteor with failures reported instead of hangs and bare ValueErrors.

    Upstream pipes stderr without reading it (a chatty JVM can block), turns a dead JVM into
    ``float('')`` and keeps its lock on error, so that ``__del__`` then blocks forever.
    """

    def __init__(self) -> None:  # replaces upstream's, which starts Java unchecked
        # Closed in close(): it must outlive this method, so no context manager.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.lock = threading.Lock()
        command = [_java(), "-jar", "-Xmx2G", _meteor_module.METEOR_JAR,
                   "-", "-", "-stdio", "-l", "en", "-norm"]  # fmt: skip
        try:
            self.meteor_p = subprocess.Popen(
                command, cwd=_METEOR_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr,
            )  # fmt: skip
        except OSError as exc:
            self._stderr.close()
            raise MetricsError(f"cannot start METEOR ({command[0]}): {exc}") from exc

    def compute_score(self, gts, res):
        # '|||' separates fields in METEOR's protocol; upstream only strips it from hypotheses.
        gts = {k: [r.replace("|||", " ") for r in refs] for k, refs in gts.items()}
        try:
            score, scores = super().compute_score(gts, res)
        except (ValueError, OSError) as exc:
            if self.lock.locked():
                self.lock.release()
            self.meteor_p.kill()
            self.meteor_p.wait()
            self._stderr.seek(0)
            raise MetricsError(
                f"METEOR failed (java exit {self.meteor_p.returncode}, {exc}): "
                f"{_tail(self._stderr.read())}"
            ) from exc
        return float(score), scores

    def close(self) -> None:
        if self.meteor_p.poll() is None:
            self.meteor_p.stdin.close()
            try:
                self.meteor_p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.meteor_p.kill()
                self.meteor_p.wait()
        self._stderr.close()

    def __del__(self) -> None:
        meteor_p = getattr(self, "meteor_p", None)
        if meteor_p is not None and meteor_p.poll() is None:
            meteor_p.kill()


def _tail(stderr: bytes, limit: int = 800) -> str:
    message = stderr.decode("utf-8", errors="replace").strip()
    return message[-limit:] if message else "(nothing on stderr)"


def available() -> bool:
    """Whether the Java scorers can run here (for callers that fall back to ``bleu4``)."""
    return shutil.which("java") is not None and os.access(_TOKENIZER_JAR, os.R_OK)
