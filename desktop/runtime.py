"""LiteRT interpreters for the bundle's two models: threads, XNNPACK, external delegates.

``ai_edge_litert`` is the runtime; ``tflite_runtime`` or ``tensorflow.lite`` are used only
when they are the only ones installed (desktop code must not pull TensorFlow in otherwise).
"""

from __future__ import annotations

import ctypes
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop import BundleError, CaptionerError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run the models; one set for both, except the thread counts."""

    threads: int | None = None  # None → one per core, at most 4
    # None → as `threads`. On an idle 2-core machine two threads halve the step (0.31 → 0.15
    # ms at batch 1, 0.70 → 0.32 ms for 3 beams); on a core busy with other work one thread
    # can be faster, hence the separate knob.
    decoder_threads: int | None = None
    delegate: str | None = None  # path of an external delegate library (GPU, Edge TPU, NPU)
    delegate_options: tuple[tuple[str, str], ...] = ()
    xnnpack: bool = True  # LiteRT's default CPU delegate; off only to debug numerics


@dataclass(frozen=True)
class Backend:
    name: str
    interpreter: type
    load_delegate: Callable[..., Any]
    op_resolver: Any  # the OpResolverType enum, or None where the runtime lacks it


_backend: Backend | None = None


def _flavours():
    """(name, module with Interpreter, module with load_delegate) for each installed LiteRT
    flavour, best first. Static imports, not importlib: PyInstaller must see them to bundle
    the runtime. TensorFlow's own tf.lite is the last resort (the desktop never imports
    TensorFlow unless nothing else is installed)."""
    try:
        from ai_edge_litert import interpreter as lite

        yield "ai-edge-litert", lite, lite
    except ImportError:
        pass
    try:
        from tflite_runtime import interpreter as lite  # type: ignore[import-not-found]

        yield "tflite-runtime", lite, lite
    except ImportError:
        pass
    try:
        import tensorflow as tf  # type: ignore[import-not-found]

        yield "tensorflow.lite", tf.lite, tf.lite.experimental  # delegates live there
    except ImportError:
        pass


def backend() -> Backend:
    """The installed LiteRT flavour, preferring ``ai_edge_litert``."""
    global _backend
    if _backend is None:
        for name, lite, extra in _flavours():
            _backend = Backend(
                name, lite.Interpreter, extra.load_delegate, getattr(extra, "OpResolverType", None)
            )
            break
        else:
            raise CaptionerError("no LiteRT runtime is installed: pip install ai-edge-litert")
    return _backend


def default_threads() -> int:
    # Past four threads the small convolutions of a mobile backbone stop scaling.
    return max(1, min(4, os.cpu_count() or 1))


def _quantization(detail: dict) -> tuple[float, int] | None:
    params = detail.get("quantization_parameters") or {}
    scales = params.get("scales")
    if scales is not None and len(scales) == 1 and scales[0] != 0:
        return float(scales[0]), int(params["zero_points"][0])
    scale, zero = detail.get("quantization", (0.0, 0))
    return (float(scale), int(zero)) if scale else None


@dataclass(frozen=True)
class TensorSpec:
    name: str
    index: int
    dtype: np.dtype
    shape: tuple[int, ...]  # -1 where resizable
    quant: tuple[float, int] | None  # (scale, zero point) for quantized integer tensors


class Model:
    """One interpreter running one named signature, with quantization handled at the edges.

    Inputs are resized only when their shape changes, since every resize re-plans the
    interpreter's memory and XNNPACK's kernels.
    """

    def __init__(self, path: Path, signature: str, options: RuntimeOptions | None = None):
        options = options or RuntimeOptions()
        self.path = Path(path)
        self.signature = signature
        self.backend = backend()
        self.delegate_active = False
        self.resizes = 0  # re-plans after a shape change (beam search should cause few)
        self.interpreter = self._create(options)
        try:
            self._prepare(signature)
        except (ValueError, RuntimeError) as e:
            # A custom op, a tensor index out of range, a subgraph that calls itself: LiteRT
            # finds these only when it plans the graph. The bundle is unusable, not a bug.
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BundleError(f"{self.path.name}: LiteRT cannot run this model ({reason})") from e

    def _prepare(self, signature: str) -> None:
        runners = self.interpreter.get_signature_list()
        if signature not in runners:
            raise BundleError(
                f"{self.path.name}: has no signature {signature!r} "
                f"(found {', '.join(runners) or 'none'})"
            )
        self._runner = self.interpreter.get_signature_runner(signature)
        self.inputs = self._specs(self._runner.get_input_details())
        self.outputs = self._specs(self._runner.get_output_details())
        # The plain interpreter API drives subgraph 0 without the runner's per-call resize +
        # allocate; most exported models keep their only signature there.
        self._direct = getattr(self._runner, "_subgraph_index", None) == 0
        self._shapes = {
            name: tuple(int(x) for x in d["shape"])
            for name, d in self._runner.get_input_details().items()
        }
        if self._direct:
            # A live runner holds the interpreter's internals, which makes the interpreter
            # refuse allocate/invoke as unsafe.
            self._runner = None
            self.interpreter.allocate_tensors()

    @staticmethod
    def _specs(details: dict[str, dict]) -> dict[str, TensorSpec]:
        return {
            name: TensorSpec(
                name=name,
                index=int(d["index"]),
                dtype=np.dtype(d["dtype"]),
                shape=tuple(int(x) for x in d.get("shape_signature", d["shape"])),
                quant=_quantization(d) if np.issubdtype(np.dtype(d["dtype"]), np.integer) else None,
            )
            for name, d in details.items()
        }

    def _create(self, options: RuntimeOptions):
        b = self.backend
        kwargs: dict[str, Any] = {
            "model_path": str(self.path),
            "num_threads": options.threads or default_threads(),
        }
        if not options.xnnpack and b.op_resolver is not None:
            kwargs["experimental_op_resolver_type"] = (
                b.op_resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        if options.delegate:
            try:
                _check_delegate_library(options.delegate)
                delegate = b.load_delegate(options.delegate, dict(options.delegate_options))
            except (ValueError, OSError, RuntimeError, AttributeError) as e:
                _warn(
                    f"delegate {options.delegate} could not be loaded ({e or type(e).__name__}); "
                    f"running {self.path.name} on the CPU"
                )
            else:
                try:
                    interpreter = b.interpreter(experimental_delegates=[delegate], **kwargs)
                    self.delegate_active = True
                    return interpreter
                except (ValueError, RuntimeError) as e:
                    _warn(
                        f"delegate {options.delegate} cannot run {self.path.name} ({e}); "
                        "using the CPU"
                    )
        try:
            return b.interpreter(**kwargs)
        except (ValueError, RuntimeError) as e:
            raise BundleError(f"{self.path.name}: LiteRT cannot load this model ({e})") from e

    def quantize(self, name: str, value: np.ndarray) -> np.ndarray:
        spec = self.inputs[name]
        if spec.quant is not None and not np.issubdtype(value.dtype, np.integer):
            scale, zero = spec.quant
            info = np.iinfo(spec.dtype)
            value = np.clip(np.round(value / scale + zero), info.min, info.max)
        return np.ascontiguousarray(value, dtype=spec.dtype)

    def dequantize(self, name: str, value: np.ndarray) -> np.ndarray:
        spec = self.outputs[name]
        if spec.quant is not None:
            scale, zero = spec.quant
            return (value.astype(np.float32) - zero) * np.float32(scale)
        return value

    def __call__(self, **inputs: np.ndarray) -> dict[str, np.ndarray]:
        if not self._direct:
            raw = self._runner(**{k: self.quantize(k, v) for k, v in inputs.items()})
            return {k: self.dequantize(k, v) for k, v in raw.items()}
        interp = self.interpreter
        resized = False
        for name, value in inputs.items():
            if value.shape != self._shapes[name]:
                interp.resize_tensor_input(self.inputs[name].index, value.shape, strict=False)
                self._shapes[name] = value.shape
                resized = True
        if resized:
            interp.allocate_tensors()
            self.resizes += 1
        for name, value in inputs.items():
            interp.set_tensor(self.inputs[name].index, self.quantize(name, value))
        interp.invoke()
        return {
            name: self.dequantize(name, interp.get_tensor(spec.index))
            for name, spec in self.outputs.items()
        }


def _check_delegate_library(path: str) -> None:
    """Fail early, with a clear reason, for a library that is not a LiteRT delegate.

    (``load_delegate`` itself leaves a half-built object behind that errors when collected.)
    """
    library = ctypes.CDLL(path)  # OSError: missing, wrong architecture, missing dependency
    if not hasattr(library, "tflite_plugin_create_delegate"):
        raise ValueError("not a LiteRT external delegate (no tflite_plugin_create_delegate)")


def _warn(message: str) -> None:
    log.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
