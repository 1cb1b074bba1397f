"""--accelerator auto|cpu|gpu|npu: the choice, the fallback to the CPU, captions that agree.

Real LiteRT (ai-edge-litert's CompiledModel for the GPU/NPU) on the real models/default. The
GPU path runs wherever LiteRT finds a GPU adapter: a real one, or Mesa's lavapipe software
Vulkan (Debian `mesa-vulkan-drivers` ≥ 23: the 22.3 in bookworm lacks an indexing feature
Dawn requires; .ci/run installs 25.0 from bookworm-backports). Where none is found, those
tests skip and say why; the fallback tests run everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from desktop import runtime
from desktop.bench import _accelerator_line
from desktop.captioner import Captioner, CaptionOptions
from desktop.cli import build_parser
from desktop.runtime import FallbackWarning, Model, RuntimeOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh(monkeypatch):
    """Forget what earlier tests found out about this machine's accelerators."""
    monkeypatch.setattr(runtime, "_unusable", {})


@pytest.fixture(scope="module")
def photos(samples):
    return [p for p in samples if p.suffix == ".jpg"][:3]


@pytest.fixture(scope="module")
def cpu_captions(default_model_dir, photos):
    cpu = Captioner.load(default_model_dir, accelerator="cpu")
    return {w: [cpu.caption(p, CaptionOptions(beam_width=w)).text for p in photos] for w in (1, 3)}


def _fallbacks(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, FallbackWarning)]


# -- the choice --------------------------------------------------------------------------------


def test_options_are_checked():
    assert RuntimeOptions(accelerator="cpu").accelerator == "cpu"
    with pytest.raises(ValueError, match="accelerator must be one of auto, cpu, gpu, npu"):
        RuntimeOptions(accelerator="tpu")
    with pytest.raises(ValueError, match="cannot be combined"):
        RuntimeOptions(delegate="libedgetpu.so.1", accelerator="gpu")
    RuntimeOptions(delegate="libedgetpu.so.1", accelerator="auto")  # the delegate decides


def test_environment_sets_the_default(monkeypatch):
    monkeypatch.setenv("CAPTIONER_ACCELERATOR", "GPU")
    assert RuntimeOptions().accelerator == "gpu"
    monkeypatch.setenv("CAPTIONER_ACCELERATOR", "nonsense")
    assert RuntimeOptions().accelerator == "auto"
    monkeypatch.delenv("CAPTIONER_ACCELERATOR")
    assert RuntimeOptions().accelerator == "auto"


def test_every_command_takes_the_option():
    parser = build_parser()
    for command in (["caption", "x.jpg"], ["bench"], ["serve"], ["info"]):
        args = parser.parse_args([*command, "--accelerator", "gpu"])
        assert args.accelerator == "gpu"
        assert parser.parse_args(command).accelerator is None  # → $CAPTIONER_ACCELERATOR/auto


def test_cpu_is_the_interpreter_path(default_model_dir):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = Captioner.load(default_model_dir, accelerator="cpu")
    assert not _fallbacks(record)
    assert c.accelerator == "cpu"
    assert all(m.accelerator == "cpu" and m._accelerated is None for m in c.models)
    assert c.encoder.fallback is None  # nothing was tried


def test_auto_picks_an_accelerator_or_says_why_not(fresh, default_model_dir, photos, cpu_captions):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = Captioner.load(default_model_dir, accelerator="auto")
    assert not _fallbacks(record), "auto finding no accelerator is no warning"
    # The decoder step stays on the CPU whatever is found (its shapes change every call).
    assert c.decoder_model.accelerator == "cpu"
    assert "input shapes change" in c.decoder_model.fallback
    if c.accelerator == "cpu":
        # This machine: why neither the GPU nor the NPU, in words.
        assert "GPU: " in c.encoder.fallback and "NPU: " in c.encoder.fallback
        assert c.encoder.fallback in c.placement()
    else:  # a machine with a hardware GPU or an NPU
        assert c.accelerator in ("gpu", "npu")
    got = [c.caption(p, CaptionOptions(beam_width=3)).text for p in photos]
    assert got == cpu_captions[3]


def test_auto_never_takes_a_software_gpu(fresh, default_model_dir):
    c = Captioner.load(default_model_dir, accelerator="auto")
    adapter = runtime._adapter
    if adapter is None or not adapter.software:
        pytest.skip(f"no software GPU adapter here (adapter: {adapter})")
    assert c.accelerator == "cpu"
    assert "software renderer" in c.encoder.fallback


# -- the fallback ------------------------------------------------------------------------------


def test_npu_falls_back_with_one_line(fresh, default_model_dir, photos, cpu_captions):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = Captioner.load(default_model_dir, accelerator="npu")
    if c.accelerator == "npu":
        pytest.skip("this machine has an NPU that LiteRT can use")
    (line,) = _fallbacks(record)  # one for the captioner, not one per model
    assert line.startswith("accelerator npu not used (NPU: ")
    assert line.endswith("; running on the CPU (XNNPACK)")
    assert [c.caption(p, CaptionOptions(beam_width=3)).text for p in photos] == cpu_captions[3]


@pytest.mark.skipif(sys.platform != "linux", reason="hides the GPU through Vulkan's loader")
def test_gpu_without_an_adapter_falls_back_cleanly(default_model_dir, photos, cpu_captions):
    """What a machine without a GPU sees: the caption on stdout as ever, one line on stderr
    saying what was tried and why it failed, and none of LiteRT's own log."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VK_ICD_FILENAMES": "/nonexistent/icd.json",  # no Vulkan driver, real GPU or not
        "VK_DRIVER_FILES": "/nonexistent/icd.json",
    }
    cmd = [sys.executable, "-m", "desktop.cli", "caption", str(photos[0]), "--beam", "3"]
    done = subprocess.run(
        [*cmd, "--accelerator", "gpu", "--model", str(default_model_dir)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{photos[0]}\t{cpu_captions[3][0]}\n"
    lines = [x for x in done.stderr.splitlines() if "XNNPACK delegate for CPU" not in x]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("WARNING: accelerator gpu not used (GPU: no GPU adapter found")
    assert lines[0].endswith("running on the CPU (XNNPACK)")


@pytest.mark.skipif(sys.platform != "linux", reason="the Vulkan loader is Linux's way to a GPU")
def test_no_vulkan_loader_is_found_without_asking_litert(fresh, monkeypatch, default_model_dir):
    """This machine before `apt-get install libvulkan1`: `gpu` falls back at once, saying why."""
    real = runtime.ctypes.CDLL

    def cdll(name, *args, **kwargs):
        if name == "libvulkan.so.1":
            raise OSError("libvulkan.so.1: cannot open shared object file: No such file")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(runtime.ctypes, "CDLL", cdll)
    monkeypatch.setattr(runtime, "_shared_environment", None)  # must not be reached
    with pytest.warns(FallbackWarning) as record:
        c = Captioner.load(default_model_dir, accelerator="gpu")
    assert c.accelerator == "cpu"
    assert [str(w.message) for w in record] == [
        "accelerator gpu not used (GPU: no GPU adapter found for WebGPU (no Vulkan loader: "
        "libvulkan.so.1: cannot open shared object file: No such file)); running on the CPU "
        "(XNNPACK)"
    ]


def test_a_model_that_fails_mid_run_goes_on_on_the_cpu(default_model_dir, captioner, photos):
    model = Model(captioner.bundle.encoder.path, "encode", RuntimeOptions(accelerator="cpu"))
    pixels = captioner.pixels(photos[0])
    expected = model(pixels=pixels)["features"]

    class Broken:
        partial = None

        def __call__(self, inputs):
            raise RuntimeError("ERROR: [gpu.cc:1]\n└ device lost")

    model._accelerated, model.accelerator = Broken(), "gpu"
    with pytest.warns(FallbackWarning, match=r"failed on the GPU: device lost.*CPU"):
        got = model(pixels=pixels)["features"]
    np.testing.assert_array_equal(got, expected)
    assert model.accelerator == "cpu" and model._accelerated is None
    assert "device lost" in model.fallback


def test_failure_reasons_are_quoted_from_litert_log():
    log = [
        "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file",
        "ERROR: [delegate_webgpu.cc:359] Failed to initialize WebGPU environment: "
        "INTERNAL: No adapters found",
    ]
    reason, everywhere = runtime._gpu_failure(
        log, RuntimeError("ERROR: [./litert/cc/litert_compiled_model.h:1961]\n└ ERROR: [x.cc:1]")
    )
    assert everywhere
    assert reason == (
        "no GPU adapter found for WebGPU (Vulkan, Metal or Direct3D) "
        "(Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file)"
    )
    partial = ["97 operations will run on the GPU, and the remaining 4 operations will run on"]
    assert runtime._partial(partial, "gpu") == "97 of 101 ops on the GPU, 4 on the CPU"
    adapter = runtime._selected_adapter(
        [
            "I0000 environment.cc:532] Selected adapter: llvmpipe (LLVM 15.0.6, 256 bits), "
            "arch=software, vendor=mesa, backend=Vulkan, adapterType=CPU / Software"
        ]
    )
    assert adapter == runtime.Adapter("llvmpipe (LLVM 15.0.6, 256 bits)", "Vulkan", True)
    # Without libLiteRtWebGpuAccelerator (a frozen app that left it out) no GPU registers, and
    # `GPU | CPU` would quietly compile for the CPU alone: such a GPU is "not found".
    registered = [
        "INFO: [accelerator_registry.cc:54] RegisterAccelerator: ptr=0x55, name=NpuAccelerator",
        "INFO: [accelerator_registry.cc:54] RegisterAccelerator: ptr=0x56, name=GPU WebGPU",
        "INFO: [accelerator_registry.cc:54] RegisterAccelerator: ptr=0x57, name=CpuAccelerator",
    ]
    assert runtime._registrations(registered) == {"gpu", "npu"}
    assert runtime._registrations(registered[2:]) == set()
    assert runtime._registrations([]) == {"gpu", "npu"}  # a quiet build: take LiteRT's word


def test_info_names_runtime_accelerators_and_bundle(default_model_dir):
    out = subprocess.run(
        [sys.executable, "-m", "desktop.cli", "info", "--model", str(default_model_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CAPTIONER_ACCELERATOR": "auto"},
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("runtime       ai-edge-litert ")
    assert "cpu: found (XNNPACK)" in text
    assert "gpu: " in text and "npu: " in text
    assert "in use        " in text and "(asked: auto)" in text
    assert "bundle        default, format " in text
    assert "INFO:" not in text and "WARNING:" not in text  # LiteRT's log stays out of stdout


def test_bench_line_names_the_accelerator():
    a = {"asked": "gpu", "in_use": "cpu", "models": "encoder.tflite: cpu (no adapter)"}
    assert _accelerator_line(a) == "cpu (asked: gpu): encoder.tflite: cpu (no adapter)"
    assert _accelerator_line(None) == "cpu"


# -- the GPU path, where one runs ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu(default_model_dir):
    runtime._unusable.pop("gpu", None)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        c = Captioner.load(default_model_dir, accelerator="gpu")
    if c.accelerator != "gpu":
        pytest.skip(
            f"no GPU LiteRT can use here ({c.encoder.fallback}); a software one: Mesa's "
            "lavapipe ≥ 23 (apt-get install -t bookworm-backports mesa-vulkan-drivers)"
        )
    assert not _fallbacks(record)
    return c


def test_gpu_runs_the_encoder_and_reports_partial_acceleration(gpu):
    assert gpu.encoder.accelerator == "gpu"
    assert gpu.decoder_model.accelerator == "cpu"
    if gpu.encoder.partial:  # measured on lavapipe: 97 of 101 ops (GATHER, TOP_K on the CPU)
        assert gpu.encoder.partial in gpu.placement()
        assert "on the GPU" in gpu.encoder.partial


def test_gpu_captions_agree_with_the_cpu(gpu, captioner, photos, cpu_captions):
    # float32 on the GPU (GpuOptions.enforce_f32). A float bundle says the same words,
    # greedy and beam. A full-integer one computes in int8 on the CPU but in float on the
    # GPU (its weights dequantized): a near-tie may part one word, never what the photo
    # shows (measured: "a large yellow and black flag" for "… yellow and yellow flag").
    quantized = gpu.bundle.quantization != "float32"
    for width in (1, 3):
        said = [gpu.caption(p, CaptionOptions(beam_width=width)).text for p in photos]
        if not quantized:
            assert said == cpu_captions[width]
            continue
        same = sum(a == b for a, b in zip(said, cpu_captions[width], strict=True))
        assert same >= len(photos) - 1
        assert [s.split()[:2] for s in said] == [c.split()[:2] for c in cpu_captions[width]]
    assert [o.name for o in gpu.caption(photos[1]).objects] == [
        o.name for o in captioner.caption(photos[1]).objects
    ]
    pixels = gpu.pixels(photos[0])
    on_gpu, on_cpu = gpu.encode(pixels), captioner.encode(pixels)
    if not quantized:
        np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-3)
    else:  # within the int8 trunk's rounding: the same features, not the same bits
        assert np.corrcoef(on_gpu.ravel(), on_cpu.ravel())[0, 1] > 0.99
