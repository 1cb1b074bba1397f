"""Backbone features, computed once per photo and cached on disk.

The cache is ``CACHE/<backbone>/<image_id>.npy`` (float16, ``[grid*grid, channels]``), one
file per photo written atomically, and, for backbones whose weights include their ImageNet
classifier, ``CACHE/<backbone>/classes/<image_id>.npy`` (float16 ``[1000]`` probabilities,
the same pass: what concept-conditioned training reads), so an interrupted extraction
resumes where it stopped and two backbones never mix. The frozen backbone runs under LiteRT
(about twice Keras' speed on CPU), with JPEG decoding on a thread pool.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from converter.backbones import registry

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path(os.environ.get("CAPTIONER_CACHE", Path.cwd() / "cache" / "features"))


def load_pixels(path: Path, size: int) -> np.ndarray:
    """RGB pixels resized to ``size``², as the desktop runtime prepares them (bilinear)."""
    with Image.open(path) as img:
        img = img.convert("RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.float32)


def backbone_tflite(backbone: str, weights: Path | None = None) -> bytes:
    """The frozen backbone as a float32 LiteRT model ``pixels → {"grid": [1, L, C]}``, plus
    ``"classes"`` (ImageNet probabilities ``[1, 1000]``) where the weights hold a classifier."""
    import tensorflow as tf

    with_classes = registry.has_classifier(backbone)
    if with_classes:
        model = registry.build_with_classifier(backbone, weights)
    else:
        model = registry.build(backbone, weights)
    size = registry.spec(backbone).input_size

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
    def extract(pixels):
        out = model(pixels, training=False)
        grid = out[0] if with_classes else out
        result = {"grid": tf.reshape(grid, [1, -1, grid.shape[-1]])}
        if with_classes:
            result["classes"] = tf.nn.softmax(out[1])
        return result

    from converter import tflite

    return tflite.convert({"extract": extract}, [model])


class FeatureCache:
    def __init__(self, backbone: str, root: Path = DEFAULT_CACHE):
        registry.spec(backbone)
        self.backbone = backbone
        self.dir = Path(root) / backbone
        self.dir.mkdir(parents=True, exist_ok=True)
        self.with_classes = registry.has_classifier(backbone)

    def path(self, image_id: str) -> Path:
        return self.dir / f"{image_id}.npy"

    def classes_path(self, image_id: str) -> Path:
        return self.dir / "classes" / f"{image_id}.npy"

    def missing(self, items: Iterable[tuple[str, Path]]) -> list[tuple[str, Path]]:
        # Features cached before the classes were: computed again, so both come from one pass.
        return [
            (i, p)
            for i, p in items
            if not self.path(i).is_file()
            or (self.with_classes and not self.classes_path(i).is_file())
        ]

    def extract(
        self,
        items: Iterable[tuple[str, Path]],
        weights: Path | None = None,
        threads: int | None = None,
    ) -> dict[str, str]:
        """Compute features for every photo not yet cached; returns ``{image_id: error}``."""
        todo = self.missing(items)
        if not todo:
            return {}
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(
            model_content=backbone_tflite(self.backbone, weights),
            num_threads=threads or os.cpu_count(),
        )
        interpreter.allocate_tensors()
        run = interpreter.get_signature_runner()
        input_name = next(iter(run.get_input_details()))
        size = registry.spec(self.backbone).input_size
        errors: dict[str, str] = {}
        for image_id, pixels in tqdm(
            _decoded(todo, size, errors),
            total=len(todo),
            desc=f"features {self.backbone}",
            unit="photo",
        ):
            out = run(**{input_name: pixels[None]})
            if "classes" in out:  # first, so a cached grid always has its classes
                _save(self.classes_path(image_id), out["classes"][0].astype(np.float16))
            _save(self.path(image_id), out["grid"][0].astype(np.float16))
        for image_id, error in errors.items():
            log.warning("skipped photo %s: %s", image_id, error)
        return errors

    def load(self, image_ids: list[str]) -> np.ndarray:
        """Stack cached features into one float16 array ``[N, L, C]``."""
        return _stack([self.path(i) for i in image_ids])

    def load_classes(self, image_ids: list[str]) -> np.ndarray:
        """Stack cached ImageNet probabilities into one float16 array ``[N, 1000]``."""
        return _stack([self.classes_path(i) for i in image_ids])


def _decoded(
    todo: list[tuple[str, Path]], size: int, errors: dict[str, str]
) -> Iterator[tuple[str, np.ndarray]]:
    """Photos decoded on a thread pool while the model runs; a photo that cannot be read
    goes into ``errors`` and is left out."""

    def decode(item):
        image_id, path = item
        try:
            return image_id, load_pixels(path, size)
        except Exception as exc:  # a corrupt photo must not stop the extraction
            errors[image_id] = f"{type(exc).__name__}: {exc}"
            return image_id, None

    with ThreadPoolExecutor(max_workers=2) as pool:
        for image_id, pixels in pool.map(decode, todo):
            if pixels is not None:
                yield image_id, pixels


def _save(final: Path, features: np.ndarray) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: workers sharing the cache may write the same photo at once.
    tmp = final.with_name(f".{final.stem}.{uuid.uuid4().hex}.tmp.npy")
    np.save(tmp, features)
    tmp.replace(final)


def _stack(paths: list[Path]) -> np.ndarray:
    first = np.load(paths[0])
    out = np.empty((len(paths), *first.shape), dtype=np.float16)
    for row, path in enumerate(paths):
        out[row] = np.load(path)
    return out


class DetectionCache:
    """The COCO detector's per-class maximum score per photo (float16 ``[91]``, column 0 the
    background), cached as ``CACHE/ssd_mobilenet_v2_coco-<size>/<image_id>.npy``: what the
    encoder of a grounded (format 4) bundle receives from the detector at run time, from
    the same pixels (the encoder's input ``size``²)."""

    def __init__(self, size: int, root: Path = DEFAULT_CACHE):
        self.size = size
        self.dir = Path(root) / f"ssd_mobilenet_v2_coco-{size}"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        return self.dir / f"{image_id}.npy"

    def extract(self, items: Iterable[tuple[str, Path]], threads: int | None = None) -> dict:
        todo = [(i, p) for i, p in items if not self.path(i).is_file()]
        if not todo:
            return {}
        from ai_edge_litert.interpreter import Interpreter

        from converter import detector

        files = detector.build(self.size)
        interpreter = Interpreter(
            model_path=str(files.model), num_threads=threads or os.cpu_count()
        )
        interpreter.allocate_tensors()
        run = interpreter.get_signature_runner()
        errors: dict[str, str] = {}
        decoded = _decoded(todo, self.size, errors)
        for image_id, pixels in tqdm(decoded, total=len(todo), desc="detector", unit="photo"):
            scores = run(pixels=pixels[None])["scores"][0]
            _save(self.path(image_id), scores.max(axis=0).astype(np.float16))
        for image_id, error in errors.items():
            log.warning("skipped photo %s: %s", image_id, error)
        return errors

    def load(self, image_ids: list[str]) -> np.ndarray:
        """``[N, 91]`` float16 per-class maximum scores."""
        return _stack([self.path(i) for i in image_ids])
