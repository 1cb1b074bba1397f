"""Reading a model bundle (docs/bundle-format.md): manifest, checksums, vocabulary.

Everything is checked before an interpreter sees a byte, so a tampered, truncated or
half-copied bundle is refused with the name of the offending file rather than crashing
LiteRT or captioning with the wrong words.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop import BundleError
from desktop.confidence import Calibration
from desktop.detections import DetectorSettings
from desktop.objects import ObjectNamer
from desktop.text_reader import TextSettings

FORMAT = "show-attend-tell-bundle"
SUPPORTED_VERSIONS = (1, 2, 3, 4)
MANIFEST = "manifest.json"
SPECIAL_WORDS = {"pad": "<pad>", "start": "<start>", "end": "<end>", "unk": "<unk>"}


@dataclass(frozen=True)
class Tokens:
    pad: int
    start: int
    end: int
    unk: int

    @property
    def specials(self) -> tuple[int, ...]:
        return (self.pad, self.start, self.end, self.unk)


@dataclass(frozen=True)
class ModelFile:
    path: Path
    signature: str


@dataclass(frozen=True)
class DetectorFile:
    """Format 4: the COCO detector beside the encoder (its outputs ground the caption)."""

    model: ModelFile
    anchors: Path
    settings: DetectorSettings
    threshold: float  # listed as an object from this score
    ground_floor: float  # the words of a COCO thing scored below this are not said
    licence: str
    origin: str


@dataclass(frozen=True)
class TextReaderPart:
    """Optional: PP-OCR's text detector (a small gate and a full-size tile model) and its
    recogniser with the characters it writes (docs/bundle-format.md, ``text_reader``)."""

    gate: ModelFile
    detector: ModelFile
    recognizer: ModelFile
    keys_path: Path
    keys: tuple[str, ...] = field(repr=False)
    settings: TextSettings
    licence: str
    origin: str
    # Encoder classes (ImageNet ids) whose summed probability sends a photo the gate found
    # nothing in to the full detector all the same: pages and screens, whose small print the
    # gate cannot see.
    document_classes: tuple[int, ...] = ()
    document_threshold: float = 1.0


@dataclass(frozen=True)
class Bundle:
    path: Path
    name: str
    backbone: str
    input_size: tuple[int, int]  # (height, width)
    feature_grid: tuple[int, int]  # (grid_h, grid_w)
    feature_dim: int
    units: int
    vocab_size: int
    max_length: int
    tokens: Tokens
    encoder: ModelFile
    decoder: ModelFile
    vocabulary: tuple[str, ...]
    quantization: str
    manifest: dict[str, Any] = field(repr=False, compare=False, hash=False)
    format_version: int = 1
    # Format 2: the encoder's class-probability output and its label table; None where the
    # bundle has none (format 1, or a backbone without a classifier).
    objects_output: str | None = None
    namer: ObjectNamer | None = field(default=None, repr=False, compare=False, hash=False)
    # Format 2, once fitted (benchmarks/objects_eval.py): the confidence model.
    calibration: Calibration | None = None
    # Format 3: positions the encoder appends after the grid cells (the classifier's best
    # concepts, which the decoder attends to as well); 0 before.
    concept_slots: int = 0
    # Logit bonus for the words of seen objects (manifest objects.word_bonus; 0: none).
    word_bonus: float = 0.0
    # Format 4: the COCO detector (None before).
    detector: DetectorFile | None = None
    # Optional in any format: the text reader (None: the bundle reads no text).
    text_reader: TextReaderPart | None = None
    # Where the model's parts came from (NOTICE.md) and the licence texts they ship under.
    notice: Path | None = None
    licences: tuple[Path, ...] = ()

    @property
    def objects_note(self) -> str | None:
        """Why this bundle's captions come without objects or confidence, or None."""
        if self.namer is not None and self.calibration is not None:
            return None
        if self.format_version < 2:
            return (
                f"the model {self.name!r} is an older bundle (format {self.format_version}): it "
                "names no objects and gives no confidence; add them with "
                "`python -m converter upgrade --bundle FOLDER`"
            )
        if self.namer is None:
            return f"the model {self.name!r} names no objects (its backbone has no classifier)"
        return f"the model {self.name!r} has no calibrated confidence yet"

    @property
    def id(self) -> str:
        """What tells one model from another: the SHA-256 of its manifest (which holds every
        file's SHA-256), so two copies of a bundle agree and a retrained one differs."""
        canonical = json.dumps(self.manifest, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    @property
    def grid_cells(self) -> int:
        return self.feature_grid[0] * self.feature_grid[1]

    @property
    def positions(self) -> int:
        """What the decoder attends over: the grid cells, then the concept slots."""
        return self.grid_cells + self.concept_slots

    def words(self, ids: Iterable[int]) -> tuple[str, ...]:
        """The words of token ids, the special tokens (<pad>, <start>, <end>, <unk>) left out."""
        specials = set(self.tokens.specials)
        return tuple(self.vocabulary[i] for i in ids if i not in specials)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _get(manifest: dict, key: str, kind: type | tuple[type, ...], where: str = "manifest.json"):
    if key not in manifest:
        raise BundleError(f"{where}: missing '{key}'")
    value = manifest[key]
    # bool is an int in Python; a manifest saying `"units": true` is still wrong.
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise BundleError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _positive_pair(manifest: dict, key: str) -> tuple[int, int]:
    value = _get(manifest, key, list)
    if len(value) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise BundleError(f"manifest.json: '{key}' must be two positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def _positive(manifest: dict, key: str) -> int:
    value = _get(manifest, key, int)
    if value <= 0:
        raise BundleError(f"manifest.json: '{key}' must be positive, got {value}")
    return value


def _file_name(root: Path, name: object, what: str) -> Path:
    # A manifest may only name plain files inside the bundle folder, with names any file
    # system can hold (a 300-character name made the checks raise OSError).
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or "\\" in name
        or name in (".", "..")
        or any(ord(c) < 32 for c in name)
        or len(name.encode("utf-8", errors="surrogatepass")) > 255
    ):
        shown = name[:80] if isinstance(name, str) else name
        raise BundleError(
            f"manifest.json: {what} must be a file name inside the bundle, got {shown!r}"
        )
    return root / name


def _read_json(path: Path) -> Any:
    """Parsed JSON, or BundleError naming the file (absurd nesting included)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else e
        raise BundleError(f"{path.name}: not readable JSON ({reason})") from e


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name the file system refuses, a permission problem on the way
        return False


def _check_files(root: Path, manifest: dict, needed: list[str]) -> None:
    files = _get(manifest, "files", dict)
    for name in needed:
        if name not in files:
            raise BundleError(f"manifest.json: no checksum listed for {name}")
    for name, entry in files.items():
        path = _file_name(root, name, "a 'files' entry")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise BundleError(f"manifest.json: 'files' entry for {name} lacks a sha256")
        if not _is_file(path):
            raise BundleError(f"{name}: missing from the model bundle {root}")
        size = entry.get("bytes")
        if isinstance(size, int) and path.stat().st_size != size:
            raise BundleError(
                f"{name}: is {path.stat().st_size} bytes, manifest says {size} "
                "(truncated or modified copy)"
            )
        try:
            actual = sha256_file(path)
        except OSError as e:
            raise BundleError(f"{name}: cannot be read ({e.strerror or e})") from e
        if actual != entry["sha256"].lower():
            raise BundleError(
                f"{name}: sha256 does not match the manifest (modified or corrupt file)"
            )


def _load_vocabulary(path: Path, vocab_size: int, tokens: Tokens) -> tuple[str, ...]:
    words = _read_json(path)
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise BundleError(f"{path.name}: must be a JSON list of strings")
    for index, word in enumerate(words):
        # A word is spoken and written into one-line records: no spaces, newlines, controls.
        if not word or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in word):
            raise BundleError(f"{path.name}: word {index} ({word[:40]!r}) is empty or has spaces")
    if len(words) != vocab_size:
        raise BundleError(
            f"{path.name}: has {len(words)} words, manifest says vocab_size {vocab_size}"
        )
    for key, expected in SPECIAL_WORDS.items():
        index = getattr(tokens, key)
        if words[index] != expected:
            raise BundleError(
                f"{path.name}: token {index} should be {expected} (tokens.{key}), "
                f"found {words[index]!r}"
            )
    return tuple(words)


def load_bundle(model_dir: str | Path, verify: bool = True) -> Bundle:
    """Read and check a bundle folder.

    ``verify=False`` skips the sha256 checks (never the presence checks).
    """
    root = Path(model_dir)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: model folder not found")
    if not manifest_path.is_file():
        raise BundleError(f"{MANIFEST}: missing from the model bundle {root}")
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise BundleError(f"{MANIFEST}: must be a JSON object")

    if manifest.get("format") != FORMAT:
        raise BundleError(
            f"{MANIFEST}: 'format' is {manifest.get('format')!r}, expected {FORMAT!r}"
        )
    version = manifest.get("format_version")
    if version not in SUPPORTED_VERSIONS or isinstance(version, bool):
        raise BundleError(
            f"{MANIFEST}: format_version {version!r} is not supported by this app "
            f"(it reads {', '.join(map(str, SUPPORTED_VERSIONS))}); "
            "update the app or re-export the model"
        )

    input_size = _positive_pair(manifest, "input_size")
    feature_grid = _positive_pair(manifest, "feature_grid")
    # The grid is the backbone's output over the input, so it has the input's shape: a
    # [3, 27] grid for a square input (the 81 cells of 9 x 9) would place attention wrongly.
    grid_ratio = (feature_grid[0] / feature_grid[1]) / (input_size[0] / input_size[1])
    if not 1 / 1.5 <= grid_ratio <= 1.5:
        raise BundleError(
            f"manifest.json: feature_grid {list(feature_grid)} does not have the shape of "
            f"input_size {list(input_size)}"
        )
    feature_dim = _positive(manifest, "feature_dim")
    units = _positive(manifest, "units")
    vocab_size = _positive(manifest, "vocab_size")
    max_length = _positive(manifest, "max_length")

    raw_tokens = _get(manifest, "tokens", dict)
    ids = {}
    for key in SPECIAL_WORDS:
        value = _get(raw_tokens, key, int, "manifest.json 'tokens'")
        if not 0 <= value < vocab_size:
            raise BundleError(f"manifest.json: tokens.{key} = {value} is outside the vocabulary")
        ids[key] = value
    if len(set(ids.values())) != len(ids):
        raise BundleError(f"manifest.json: special tokens must be distinct, got {ids}")
    tokens = Tokens(**ids)

    models = {}
    for key in ("encoder", "decoder"):
        entry = _get(manifest, key, dict)
        path = _file_name(root, entry.get("file"), f"{key}.file")
        signature = entry.get("signature")
        if not isinstance(signature, str) or not signature:
            raise BundleError(f"manifest.json: {key}.signature must be a non-empty string")
        models[key] = ModelFile(path, signature)
    vocab_path = _file_name(root, manifest.get("vocabulary"), "'vocabulary'")

    needed = [models["encoder"].path.name, models["decoder"].path.name, vocab_path.name]
    objects = manifest.get("objects") if version >= 2 else None
    labels_path = None
    if objects is not None:
        if not isinstance(objects, dict):
            raise BundleError("manifest.json: 'objects' must be an object")
        labels_path = _file_name(root, objects.get("labels"), "objects.labels")
        needed.append(labels_path.name)
    detector_entry = manifest.get("detector") if version >= 4 else None
    if version >= 4 and not isinstance(detector_entry, dict):
        raise BundleError("manifest.json: a format-4 bundle needs a 'detector' object")
    if detector_entry is not None:
        for key in ("file", "anchors"):
            needed.append(_file_name(root, detector_entry.get(key), f"detector.{key}").name)
    text_entry = manifest.get("text_reader")
    if text_entry is not None:
        if not isinstance(text_entry, dict):
            raise BundleError("manifest.json: 'text_reader' must be an object")
        needed += _text_reader_files(root, text_entry)
    notices = manifest.get("notices")
    notice: Path | None = None
    licences: tuple[Path, ...] = ()
    if notices is not None:
        if not isinstance(notices, dict) or not isinstance(notices.get("licences", []), list):
            raise BundleError("manifest.json: 'notices' must be {notice, licences: [...]}")
        notice = _file_name(root, notices.get("notice"), "notices.notice")
        licences = tuple(_file_name(root, n, "notices.licences") for n in notices["licences"])
        needed += [notice.name, *(p.name for p in licences)]
    if verify:
        _check_files(root, manifest, needed)
    else:
        for name in needed:
            if not _is_file(root / name):
                raise BundleError(f"{name}: missing from the model bundle {root}")

    # Informational only: the runtime reads tensor types and quantization from the models.
    quantization = str(manifest.get("quantization", "float32"))
    namer = None
    word_bonus = 0.0
    if objects is not None and labels_path is not None:
        threshold = objects.get("threshold", 0.2)
        max_objects = objects.get("max_objects", 5)
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise BundleError(f"manifest.json: objects.threshold must be 0..1, got {threshold!r}")
        if not isinstance(max_objects, int) or max_objects < 1:
            raise BundleError("manifest.json: objects.max_objects must be a positive integer")
        namer = ObjectNamer(
            _read_json(labels_path), float(threshold), max_objects, where=labels_path.name
        )
        word_bonus = objects.get("word_bonus", 0.0)
        if (
            isinstance(word_bonus, bool)
            or not isinstance(word_bonus, int | float)
            or not 0.0 <= word_bonus <= 20.0
        ):
            raise BundleError(
                f"manifest.json: objects.word_bonus must be 0..20, got {word_bonus!r}"
            )
    concept_slots = 0
    # Read wherever present (format 3 writes it; no earlier manifest has it): the count says
    # how many positions the encoder's features have beyond the grid.
    if manifest.get("concepts") is not None:
        entry = _get(manifest, "concepts", dict)
        concept_slots = _get(entry, "count", int, "manifest.json 'concepts'")
        if not 0 < concept_slots <= 64 or isinstance(concept_slots, bool):
            raise BundleError(f"manifest.json: concepts.count must be 1..64, got {concept_slots}")
    detector = _detector(root, detector_entry) if detector_entry is not None else None
    calibration = None
    if version >= 2 and manifest.get("confidence") is not None:
        calibration = Calibration.from_manifest(manifest["confidence"])

    return Bundle(
        path=root,
        name=str(manifest.get("name", root.name)),
        backbone=str(manifest.get("backbone", "")),
        input_size=input_size,
        feature_grid=feature_grid,
        feature_dim=feature_dim,
        units=units,
        vocab_size=vocab_size,
        max_length=max_length,
        tokens=tokens,
        encoder=models["encoder"],
        decoder=models["decoder"],
        vocabulary=_load_vocabulary(vocab_path, vocab_size, tokens),
        quantization=quantization,
        manifest=manifest,
        format_version=version,
        objects_output=str(objects.get("output", "classes"))
        if objects is not None and namer is not None
        else None,
        namer=namer,
        calibration=calibration,
        concept_slots=concept_slots,
        word_bonus=float(word_bonus),
        detector=detector,
        text_reader=_text_reader(root, text_entry) if text_entry is not None else None,
        notice=notice,
        licences=licences,
    )


def _fraction(entry: dict, key: str, default: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise BundleError(f"manifest.json: detector.{key} must be 0..1, got {value!r}")
    return float(value)


def _detector(root: Path, entry: dict) -> DetectorFile:
    signature = entry.get("signature")
    if not isinstance(signature, str) or not signature:
        raise BundleError("manifest.json: detector.signature must be a non-empty string")
    labels = entry.get("labels")
    if (
        not isinstance(labels, list)
        or not 2 <= len(labels) <= 1000
        or not all(n is None or (isinstance(n, str) and n.strip()) for n in labels)
    ):
        raise BundleError("manifest.json: detector.labels must list a name or null per class")
    settings = DetectorSettings(
        labels=tuple(labels),
        count_threshold=_fraction(entry, "count_threshold", 0.5),
        iou=_fraction(entry, "iou", 0.6),
    )
    return DetectorFile(
        model=ModelFile(_file_name(root, entry["file"], "detector.file"), signature),
        anchors=_file_name(root, entry["anchors"], "detector.anchors"),
        settings=settings,
        threshold=_fraction(entry, "threshold", 0.5),
        ground_floor=_fraction(entry, "ground_floor", 0.0),
        licence=str(entry.get("licence", "")),
        origin=str(entry.get("origin", "")),
    )


TEXT_MODELS = ("gate", "detector", "recognizer")


def _text_reader_files(root: Path, entry: dict) -> list[str]:
    names = []
    for key in TEXT_MODELS:
        model = entry.get(key)
        if not isinstance(model, dict):
            raise BundleError(f"manifest.json: text_reader.{key} must be an object")
        names.append(_file_name(root, model.get("file"), f"text_reader.{key}.file").name)
    names.append(_file_name(root, entry.get("keys"), "text_reader.keys").name)
    return names


def _text_keys(path: Path) -> tuple[str, ...]:
    keys = _read_json(path)
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= 100_000
        or not all(isinstance(k, str) and k for k in keys)
    ):
        raise BundleError(f"{path.name}: must be a JSON list of non-empty strings")
    for index, key in enumerate(keys):
        # A character is spoken and written into one-line records (a wide space is read as
        # a space; a line break or a control never).
        if any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in key):
            raise BundleError(f"{path.name}: character {index} ({key[:20]!r}) is a control")
    return tuple(keys)


def _text_reader(root: Path, entry: dict) -> TextReaderPart:
    models = {}
    for key in TEXT_MODELS:
        model = entry[key]
        signature = model.get("signature")
        if not isinstance(signature, str) or not signature:
            raise BundleError(
                f"manifest.json: text_reader.{key}.signature must be a non-empty string"
            )
        models[key] = ModelFile(
            _file_name(root, model["file"], f"text_reader.{key}.file"), signature
        )
    defaults = TextSettings()

    def fraction(key: str) -> float:
        value = entry.get(key, getattr(defaults, key, 1.0))
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise BundleError(f"manifest.json: text_reader.{key} must be 0..1, got {value!r}")
        return float(value)

    unclip = entry.get("unclip", defaults.unclip)
    if isinstance(unclip, bool) or not isinstance(unclip, int | float) or not 0.5 <= unclip <= 4:
        raise BundleError(f"manifest.json: text_reader.unclip must be 0.5..4, got {unclip!r}")
    max_side = entry.get("max_side", defaults.max_side)
    if isinstance(max_side, bool) or not isinstance(max_side, int) or not 64 <= max_side <= 8192:
        raise BundleError(f"manifest.json: text_reader.max_side must be 64..8192, got {max_side!r}")
    settings = TextSettings(
        gate_threshold=fraction("gate_threshold"),
        threshold=fraction("threshold"),
        box_threshold=fraction("box_threshold"),
        unclip=float(unclip),
        min_confidence=fraction("min_confidence"),
        max_side=max_side,
    )
    keys_path = _file_name(root, entry["keys"], "text_reader.keys")
    classes = entry.get("document_classes", [])
    if not isinstance(classes, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 1_000_000 for c in classes
    ):
        raise BundleError("manifest.json: text_reader.document_classes must list class ids")
    return TextReaderPart(
        gate=models["gate"],
        detector=models["detector"],
        recognizer=models["recognizer"],
        keys_path=keys_path,
        keys=_text_keys(keys_path),
        settings=settings,
        licence=str(entry.get("licence", "")),
        origin=str(entry.get("origin", "")),
        document_classes=tuple(classes),
        document_threshold=fraction("document_threshold") if classes else 1.0,
    )
