"""LiteRT for the bundle's models: threads, XNNPACK, LiteRT's GPU/NPU accelerators, delegates.

``ai_edge_litert`` is the runtime; ``tflite_runtime`` or ``tensorflow.lite`` are used only
when they are the only ones installed (desktop code must not pull TensorFlow in otherwise).

The CPU path is LiteRT's Interpreter with XNNPACK. The GPU and NPU paths are ai-edge-litert's
``CompiledModel`` API (a WebGPU accelerator over Vulkan/Metal/Direct3D in the wheel; vendor
NPU dispatch libraries under ``ai_edge_litert/vendors``); any failure to create or run a
model there falls back to the Interpreter, which every model keeps ready (docs/runtime.md).

Why one module of this size: every accelerator path shares the fallback rules and the one
error message a user sees; the three runtimes and two APIs are kept behind ``Model`` here so
that nothing else in desktop/ knows LiteRT's shape.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from desktop import BundleError, CaptionerError

log = logging.getLogger(__name__)
runtime_log = log  # the GUI shows this logger's warnings (gui/worker.py)


ACCELERATORS = ("auto", "cpu", "gpu", "npu")


def default_accelerator() -> str:
    """``$CAPTIONER_ACCELERATOR``, else "auto". Where a Vulkan loader is installed but no GPU
    can serve, finding that out costs every start 0.8-1.7 s (measured on 2 busy cores: LiteRT
    loads its 19 MB WebGPU library and asks Vulkan, and a software adapter compiles the
    encoder before it is turned down), which a script of many short runs, or a test suite,
    may not want."""
    value = os.environ.get("CAPTIONER_ACCELERATOR", "").strip().lower()
    return value if value in ACCELERATORS else "auto"


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
    # "auto": the GPU, else the NPU, where LiteRT finds a usable one, else the CPU; "cpu":
    # XNNPACK only; "gpu"/"npu": that one, falling back to the CPU with a warning.
    accelerator: str = field(default_factory=default_accelerator)
    # The GPU computes in float32 unless this is set, so its captions match the CPU's; float16
    # is faster on real GPUs and agrees only within the quality tolerances.
    gpu_float16: bool = False

    def __post_init__(self) -> None:
        if self.accelerator not in ACCELERATORS:
            raise ValueError(
                f"accelerator must be one of {', '.join(ACCELERATORS)}, got {self.accelerator!r}"
            )
        if self.delegate and self.accelerator in ("gpu", "npu"):
            # Both would claim the same model; the external delegate is the explicit choice.
            raise ValueError(
                f"an external delegate and accelerator {self.accelerator!r} cannot be combined"
            )


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
        from tflite_runtime import interpreter as lite

        yield "tflite-runtime", lite, lite
    except ImportError:
        pass
    try:
        import tensorflow as tf

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

    def __init__(
        self,
        path: Path,
        signature: str,
        options: RuntimeOptions | None = None,
        *,
        quiet: bool = False,  # the caller reports a fallback itself (Captioner: one line)
    ):
        options = options or RuntimeOptions()
        self.path = Path(path)
        self.signature = signature
        self.backend = backend()
        self.delegate_active = False
        self.resizes = 0  # re-plans after a shape change (beam search should cause few)
        self.accelerator = "cpu"  # where it runs: cpu, gpu, npu, or delegate
        self.partial: str | None = None  # on an accelerator, but some ops on the CPU: which
        self.fallback: str | None = None  # why it is not on the GPU/NPU asked for (or auto's)
        self._accelerated: Accelerated | None = None
        self.interpreter = self._create(options)
        try:
            self._prepare(signature)
        except (ValueError, RuntimeError) as e:
            # A custom op, a tensor index out of range, a subgraph that calls itself: LiteRT
            # finds these only when it plans the graph. The bundle is unusable, not a bug.
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BundleError(f"{self.path.name}: LiteRT cannot run this model ({reason})") from e
        # The Interpreter is planned even when the GPU/NPU will run the model: a hostile or
        # broken bundle is refused above by the well-trodden path before it reaches the
        # accelerators' native code, and a model that fails there mid-run goes on here at once.
        if self.delegate_active:
            self.accelerator = "delegate"
        elif not options.delegate and options.accelerator != "cpu":
            self._accelerate(options, quiet)

    def _accelerate(self, options: RuntimeOptions, quiet: bool) -> None:
        if any(-1 in spec.shape for spec in self.inputs.values()):
            # The decoder step: its batch and grid change between calls, and ai-edge-litert
            # 2.3's CompiledModel does not re-plan its outputs on a resize (measured: a run
            # after resizing the step's features wrote past its attention buffer and crashed
            # the process). Its 0.3 ms steps gain little from a GPU anyway.
            self.fallback = (
                "its input shapes change between calls; LiteRT's GPU/NPU path needs fixed ones"
            )
            return
        tried: list[str] = []
        for name in ("gpu", "npu") if options.accelerator == "auto" else (options.accelerator,):
            try:
                self._accelerated = Accelerated(
                    self.path, self.signature, name, options, auto=options.accelerator == "auto"
                )
            except AcceleratorError as e:
                tried.append(f"{name.upper()}: {e}")
                continue
            self.accelerator = name
            self.partial = self._accelerated.partial
            return
        self.fallback = "; ".join(tried)
        if quiet:
            return
        if options.accelerator == "auto":
            log.info(
                "%s: no accelerator (%s); running on the CPU (XNNPACK)",
                self.path.name,
                self.fallback,
            )
        else:
            runtime_warning(
                f"accelerator {options.accelerator} not used for {self.path.name} "
                f"({self.fallback}); running it on the CPU (XNNPACK)"
            )

    def _drop_accelerator(self, error: Exception) -> None:
        """A model that fails on the GPU/NPU mid-run goes on on the CPU, which is kept ready."""
        assert self._accelerated is not None
        name = self.accelerator
        self.fallback = (
            f"it failed on the {name.upper()}: {_short(str(error)) or type(error).__name__}"
        )
        self._accelerated = None
        self.accelerator, self.partial = "cpu", None
        runtime_warning(
            f"{self.path.name}: {self.fallback}; running it on the CPU (XNNPACK) from now on"
        )

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
                runtime_warning(
                    f"delegate {options.delegate} could not be loaded ({e or type(e).__name__}); "
                    f"running {self.path.name} on the CPU"
                )
            else:
                try:
                    interpreter = b.interpreter(experimental_delegates=[delegate], **kwargs)
                    self.delegate_active = True
                    return interpreter
                except (ValueError, RuntimeError) as e:
                    runtime_warning(
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
        if self._accelerated is not None:
            try:
                raw = self._accelerated({k: self.quantize(k, v) for k, v in inputs.items()})
            except (RuntimeError, ValueError) as e:
                self._drop_accelerator(e)
            else:
                if raw is not None:
                    return {k: self.dequantize(k, v) for k, v in raw.items()}
                # None: a shape it was not compiled for; the CPU runs this call.
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


class FallbackWarning(RuntimeWarning):
    """The models run on the CPU, not on what was asked (the CLI shows the log line only)."""


def runtime_warning(message: str) -> None:
    """A fallback the user should hear about: the log (the GUI shows it) and a warning."""
    log.warning(message)
    warnings.warn(message, FallbackWarning, stacklevel=3)


# -- LiteRT's GPU and NPU accelerators (ai-edge-litert's CompiledModel API) -------------------


class AcceleratorError(Exception):
    """A model cannot be created on the GPU/NPU; the message says why, for the fallback line."""


@dataclass(frozen=True)
class Adapter:
    """The GPU that LiteRT's WebGPU accelerator chose, as its log names it."""

    name: str  # e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
    backend: str  # Vulkan, Metal, D3D12
    software: bool  # a CPU renderer (Mesa's lavapipe, SwiftShader): runs, but no accelerator


# Reasons an accelerator cannot serve on this machine at all (no adapter, no NPU runtime, a
# software GPU for `auto`), found once per process: the next model and the next Captioner
# (the service loads several) do not try again.
_unusable: dict[str, str] = {}
_adapter: Adapter | None = None
_environment: Any = None
_env_lock = threading.Lock()
# fd 2 is one per process: two models compiling at once must not swap each other's logs.
_native_lock = threading.Lock()


def _compiled_api():
    """ai-edge-litert's CompiledModel module, or AcceleratorError where LiteRT lacks it."""
    if backend().name != "ai-edge-litert":
        raise AcceleratorError(f"{backend().name} has no GPU/NPU accelerators (ai-edge-litert has)")
    try:
        from ai_edge_litert import compiled_model
    except ImportError as e:  # ai-edge-litert 1.x
        raise AcceleratorError(f"this ai-edge-litert has no CompiledModel API ({e})") from e
    return compiled_model


@contextlib.contextmanager
def _native_log() -> Iterator[list[str]]:
    """What LiteRT's C++ side writes to fd 1 and 2 meanwhile, instead of the terminal.

    It logs every accelerator it registers and every Dawn adapter it rejects (a dozen lines
    per model), some of it on stdout ("Failed to load OpenCL library"), where it would mix
    with `caption`'s output. The user gets one line of ours instead, and the reason for a
    failure, which LiteRT puts only in that log (the exception says "compiled_model.cc:1036"),
    is quoted from it. Where the descriptors cannot be redirected (no console), the log is
    left alone."""
    lines: list[str] = []
    with _native_lock:
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
            saved = [os.dup(1), os.dup(2)]
        except (OSError, ValueError, AttributeError):
            yield lines
            return
        with tempfile.TemporaryFile() as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            try:
                yield lines
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
                f.seek(0)
                lines.extend(f.read().decode("utf-8", "replace").splitlines())
                log.debug("LiteRT: %s", "\n".join(lines))


def _shared_environment(api) -> Any:
    """One LiteRT environment for every compiled model: creating one loads the GPU
    accelerator (19 MB) and probes the NPU dispatch libraries each time."""
    global _environment
    with _env_lock:
        if _environment is None:
            with _native_log() as lines:
                _environment = api.Environment.create(
                    runtime_path=os.path.dirname(os.path.abspath(api.__file__))
                )
            atexit.register(_release_at_exit)
            _registered.update(_registrations(lines))
        return _environment


# The accelerators LiteRT registered in the environment ("gpu", "npu"), or None where its log
# said nothing (a build that logs less): then LiteRT is taken at its word. Without its WebGPU
# library (a frozen app that left it out) `GPU | CPU` quietly compiles for the CPU alone.
_registered: set[str] = set()


def _registrations(lines: list[str]) -> set[str]:
    if not lines:
        return {"gpu", "npu"}
    found = set()
    for line in lines:
        m = re.search(r"RegisterAccelerator: .*name=(\w+)", line)
        if m and m[1].lower().startswith("gpu"):
            found.add("gpu")
        elif m and m[1].lower().startswith("npu"):
            found.add("npu")
    return found


_live: weakref.WeakSet[Accelerated] = weakref.WeakSet()


def _release_at_exit() -> None:
    """Tear LiteRT's accelerators down while their log is caught: left to the interpreter's
    shutdown, each prints "DestroyAccelerator" lines after every command."""
    global _environment
    with _native_log():
        for accelerated in list(_live):
            accelerated.close()
        if _environment is not None:
            _environment.close()
        _environment = None
        gc.collect()


def _short(text: str) -> str:
    """The first line of a LiteRT message that is not just a source location."""
    for line in text.splitlines():
        line = re.sub(r"^\W*(ERROR|WARNING): \[[^\]]*\]\s*", "", line.strip()).strip("└ ")
        if line:
            return line
    return ""


def _gpu_failure(lines: list[str], error: Exception) -> tuple[str, bool]:
    """(why the GPU could not take the model, whether that holds for every model here)."""
    text = "\n".join(lines)
    # Dawn says why it rejected each adapter on a "Warning:" line.
    dawn = list(dict.fromkeys(m.strip() for m in re.findall(r"^Warning: (.*)$", text, re.M)))
    if "No adapters found" in text:
        detail = f" ({'; '.join(dawn)})" if dawn else ""
        return f"no GPU adapter found for WebGPU (Vulkan, Metal or Direct3D){detail}", True
    errors = [_short(x) for x in re.findall(r"^E\d+ .*?\] (.*)$|^ERROR: (.*)$", text, re.M)]
    reason = _short(str(error)) or type(error).__name__
    return (f"{reason} ({errors[-1]})" if errors and errors[-1] not in reason else reason), False


def _selected_adapter(lines: list[str]) -> Adapter | None:
    for line in lines:
        m = re.search(r"Selected adapter: (.*?), arch=.*?backend=(\w+), adapterType=(.*)$", line)
        if m:
            return Adapter(m[1], m[2], "software" in m[3].lower() or "cpu" in m[3].lower())
    return None


def _partial(lines: list[str], name: str) -> str | None:
    for line in lines:
        m = re.search(r"(\d+) operations will run on the GPU, and the remaining (\d+)", line)
        if m:
            total = int(m[1]) + int(m[2])
            return f"{m[1]} of {total} ops on the GPU, {m[2]} on the CPU"
    return f"some ops on the {name.upper()}, the rest on the CPU"


def _npu_problem(api) -> str | None:
    """Why no NPU can serve, or None where a vendor dispatch library loads (LiteRT itself
    only logs "NPU accelerator could not be loaded" and then quietly runs on the CPU)."""
    vendors = Path(api.__file__).resolve().parent / "vendors"
    found = sorted(vendors.glob("*/dispatch/*LiteRtDispatch*"))
    if not found:
        return "no NPU dispatch library is installed (ai_edge_litert/vendors/*/dispatch)"
    problems = []
    for lib in found:
        try:
            ctypes.CDLL(str(lib))
        except OSError as e:  # e.g. OpenVINO's dispatch without OpenVINO installed
            problems.append(f"{lib.parent.parent.name}: {str(e).replace(str(lib) + ': ', '')}")
        else:
            return None
    return "no NPU runtime loads (" + "; ".join(problems) + ")"


def _vulkan_problem() -> str | None:
    """On Linux, WebGPU's only way to a GPU is Vulkan: without its loader there is none, which
    is found here in a millisecond rather than by LiteRT in ~0.8 s (measured on 2 busy cores:
    it loads its 19 MB WebGPU library first)."""
    if not sys.platform.startswith("linux"):
        return None  # Metal on macOS, Direct3D on Windows: always there to ask
    try:
        ctypes.CDLL("libvulkan.so.1")
    except OSError as e:
        return f"no GPU adapter found for WebGPU (no Vulkan loader: {e})"
    return None


class Accelerated:
    """One signature of a fixed-shape model compiled for the GPU or NPU by LiteRT's
    CompiledModel, with the CPU for ops they cannot run (reported in ``partial``)."""

    def __init__(
        self, path: Path, signature: str, accelerator: str, options: RuntimeOptions, auto: bool
    ):
        global _adapter
        known = _unusable.get(accelerator) or (
            _unusable.get(f"auto-{accelerator}") if auto else None
        )
        if known:
            raise AcceleratorError(known)
        api = _compiled_api()
        hw = api.HardwareAccelerator
        problem = _npu_problem(api) if accelerator == "npu" else _vulkan_problem()
        if problem:
            _unusable[accelerator] = problem
            raise AcceleratorError(problem)
        settings = api.Options(
            # With the CPU in the set, ops the accelerator lacks run there instead of failing.
            hardware_accelerators=(hw.GPU if accelerator == "gpu" else hw.NPU) | hw.CPU,
            cpu_options=api.CpuOptions(num_threads=options.threads or default_threads()),
            gpu_options=api.GpuOptions(enforce_f32=not options.gpu_float16),
        )
        env = _shared_environment(api)
        if accelerator not in _registered:
            problem = f"LiteRT registered no {accelerator.upper()} accelerator here"
            if accelerator == "gpu":
                problem += " (its libLiteRtWebGpuAccelerator library is missing)"
            _unusable[accelerator] = problem
            raise AcceleratorError(problem)
        error: Exception | None = None
        with _native_log() as lines:
            try:
                model = api.CompiledModel.from_file(str(path), environment=env, options=settings)
                self._bind(model, signature)
            except (RuntimeError, ValueError) as e:
                error = e
        if error is not None:
            if accelerator == "npu":
                raise AcceleratorError(_short(str(error)) or type(error).__name__) from error
            reason, everywhere = _gpu_failure(lines, error)
            if everywhere:
                _unusable["gpu"] = reason
            raise AcceleratorError(reason) from error
        if accelerator == "gpu":
            _adapter = _selected_adapter(lines) or _adapter
            if auto and _adapter is not None and _adapter.software:
                # Mesa's lavapipe and the like run WebGPU on the CPU, slower than XNNPACK.
                reason = (
                    f"the only GPU is a software renderer ({_adapter.name}), slower than the CPU"
                )
                _unusable["auto-gpu"] = reason
                raise AcceleratorError(reason)
        self.partial = None if model.is_fully_accelerated() else _partial(lines, accelerator)
        _live.add(self)

    def _bind(self, model: Any, signature: str) -> None:
        """Buffers for every input and output (their shapes are fixed: see Model)."""
        if signature not in model.get_signature_list():
            raise ValueError(f"no signature {signature!r}")
        self.model = model
        self.signature = signature
        inputs = model.get_input_tensor_details(signature)
        self._inputs = {name: model.create_input_buffer_by_name(signature, name) for name in inputs}
        self._shapes = {name: tuple(d["shape"]) for name, d in inputs.items()}
        outputs = model.get_output_tensor_details(signature)
        self._outputs = {
            name: model.create_output_buffer_by_name(signature, name) for name in outputs
        }
        self._out = {name: (tuple(d["shape"]), np.dtype(d["dtype"])) for name, d in outputs.items()}
        self._runs = 0

    def close(self) -> None:
        self._inputs, self._outputs = {}, {}
        if self.model is not None:
            self.model.close()
        self.model = None
        self._shapes = {}  # every later call: "not compiled for this shape", the CPU runs it

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """The outputs, or None for inputs of a shape it was not compiled for."""
        if any(tuple(v.shape) != self._shapes.get(k) for k, v in inputs.items()):
            return None
        if self._runs == 0:
            # The first run compiles the GPU's kernels and sets up more of LiteRT, which
            # logs; later runs do not.
            with _native_log():
                outputs = self._run(inputs)
        else:
            outputs = self._run(inputs)
        self._runs += 1
        return outputs

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, value in inputs.items():
            self._inputs[name].write(value)
        self.model.run_by_name(self.signature, self._inputs, self._outputs)
        return {
            name: self._outputs[name].read(int(np.prod(shape)), dtype).reshape(shape)
            for name, (shape, dtype) in self._out.items()
        }


def runtime_version() -> str:
    """The installed LiteRT flavour and its version, e.g. "ai-edge-litert 2.3.0"."""
    from importlib import metadata

    name = backend().name
    try:
        return f"{name} {metadata.version(name if name != 'tensorflow.lite' else 'tensorflow')}"
    except metadata.PackageNotFoundError:  # a frozen app without the dist-info
        return name


@dataclass(frozen=True)
class Found:
    name: str  # cpu, gpu, npu
    available: bool
    detail: str  # what it is, or why it cannot serve


def find_accelerators(probe: Path) -> list[Found]:
    """What this machine offers, found by compiling ``probe`` (a fixed-shape model, e.g. the
    bundle's encoder) for each accelerator: LiteRT can tell no other way."""
    found = [Found("cpu", True, "XNNPACK")]
    for name in ("gpu", "npu"):
        try:
            Accelerated(probe, _first_signature(probe), name, RuntimeOptions(), auto=False)
        except AcceleratorError as e:
            found.append(Found(name, False, str(e)))
            continue
        if name == "gpu" and _adapter is not None:
            kind = "software renderer; `auto` skips it" if _adapter.software else "hardware"
            found.append(Found(name, True, f"{_adapter.name} via {_adapter.backend} ({kind})"))
        else:
            found.append(Found(name, True, "WebGPU" if name == "gpu" else "vendor dispatch"))
    return found


def _first_signature(path: Path) -> str:
    return next(iter(backend().interpreter(model_path=str(path)).get_signature_list()))
