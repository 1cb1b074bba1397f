"""benchmarks/vs_seed.py on 2 photos: the seed-style Keras pipeline and the LiteRT runtime
caption the same photos the same way, and a bundle of another run is refused.

Uses the training run under runs/ that models/default was exported from, or (as in CI,
where runs/ does not exist) the small run of tests/support/tiny_model.py, which captions different
photos differently; either way the export's parity check covered the first dev photos, so
the two pipelines must agree.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import vs_seed
from tests.support.converter_cli import FLICKR
from tests.support.tiny_model import tiny_model

ROOT = Path(__file__).resolve().parents[1]
training = pytest.mark.training  # needs TensorFlow


@pytest.fixture(scope="module")
def tensorflow():
    return pytest.importorskip(
        "tensorflow", reason="vs_seed needs the training extra (tensorflow-cpu)"
    )


def _runs() -> list[Path]:
    return sorted(p for p in (ROOT / "runs").glob("*") if (p / "best.weights.h5").is_file())


@pytest.fixture(scope="module")
def pair(tensorflow, default_model_dir):
    """(run, bundle): models/default and the run under runs/ it was exported from, or else
    a tiny run trained and exported here."""
    from desktop.bundle import load_bundle

    default = load_bundle(default_model_dir)
    for path in _runs():
        info = vs_seed.read_run(path)
        mismatches, warnings = vs_seed.compare_with_bundle(info, default)
        if not mismatches and not warnings:
            return info, default
    if not (FLICKR / "Flickr8k.token.txt").is_file():
        pytest.skip(f"no run under {ROOT / 'runs'} for models/default, and no Flickr8k at {FLICKR}")
    run, bundle = tiny_model()
    return vs_seed.read_run(run), load_bundle(bundle)


@pytest.fixture(scope="module")
def bundle(pair):
    return pair[1]


@pytest.fixture(scope="module")
def run(pair) -> vs_seed.RunInfo:
    return pair[0]


@pytest.fixture(scope="module")
def photos(run) -> list[Path]:
    # A BenchError here (the run's dev photos not found) is the code under test failing.
    found = vs_seed.dev_photos(run.info, 2)
    assert len(found) == 2, f"fewer than 2 dev photos for {run.path}"
    return found


@training
def test_the_model_compared_captions_different_photos_differently(run, bundle):
    """Agreement between the pipelines (and the export's parity check) means something only
    if the model's captions depend on the photo."""
    from desktop.captioner import Captioner, CaptionOptions

    assert bundle.manifest["parity"]["agreement"] == 1.0
    captioner = Captioner.load(bundle.path)
    options = CaptionOptions(beam_width=1, with_attention=False)
    captions = [captioner.caption(p, options).text for p in vs_seed.dev_photos(run.info, 8)]
    assert len(set(captions)) >= 4, captions
    assert all(len(set(c.lower().rstrip(".").split())) >= 3 for c in captions), captions


@pytest.fixture(scope="module")
def comparison(run, bundle, photos) -> vs_seed.Comparison:
    return vs_seed.compare(run.path, bundle.path, photos, count=2, threads=2, batch=True)


@training
def test_both_pipelines_caption_every_photo_the_same(comparison, photos):
    assert comparison.photos == len(photos) == 2
    assert comparison.skipped == {}
    assert comparison.differences == (), comparison.differences
    assert comparison.same_caption == 1.0


@training
def test_figures_are_consistent(comparison):
    for figures in (comparison.seed, comparison.runtime):
        assert 0 < figures.p50_ms <= figures.p95_ms
        assert figures.first_ms > 0 and figures.photos_per_s > 0
        # photos/s is the inverse of the mean time per photo.
        assert figures.photos_per_s == pytest.approx(1e3 / figures.mean_ms, rel=0.01)
        assert figures.load_p50_ms > 0 and figures.encode_p50_ms > 0
        assert 0 < figures.step_p50_ms <= figures.decode_p50_ms
    # Same captions, so the same number of words.
    assert comparison.seed.words_mean == comparison.runtime.words_mean > 0
    assert comparison.speedup == pytest.approx(
        comparison.runtime.photos_per_s / comparison.seed.photos_per_s, abs=0.06
    )
    assert comparison.runtime_batch_photos_per_s > 0


@training
def test_report_and_json(comparison):
    text = vs_seed.format_report(comparison)
    assert "seed-style (Keras, eager)" in text and "runtime (LiteRT," in text
    assert "same caption: 100% (2/2 photos)" in text
    assert f"speed-up: {comparison.speedup:.1f}x photos/s" in text
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["photos"] == 2 and data["seed"]["p50_ms"] == comparison.seed.p50_ms


@training
def test_a_bundle_of_another_model_is_refused(run, bundle):
    other_words = (*bundle.vocabulary[:5], "zebra-" + bundle.vocabulary[5], *bundle.vocabulary[6:])
    other = dataclasses.replace(bundle, vocabulary=other_words)
    mismatches, _ = vs_seed.compare_with_bundle(run, other)
    assert mismatches == [
        f"vocabulary: word 5 is {bundle.vocabulary[5]!r} in the run, "
        f"{other_words[5]!r} in the bundle"
    ]
    other = dataclasses.replace(bundle, backbone="inception_v3", vocab_size=bundle.vocab_size + 1)
    mismatches, _ = vs_seed.compare_with_bundle(run, other)
    assert [m.split(":")[0] for m in mismatches] == ["backbone", "vocab_size"]


@training
def test_a_run_without_the_bundles_epochs_is_refused(run, bundle, tmp_path):
    elsewhere = dataclasses.replace(run, path=tmp_path)  # same settings, no epoch weights
    mismatches, _ = vs_seed.compare_with_bundle(elsewhere, bundle)
    assert [m.split(":")[0] for m in mismatches] == ["epochs"]


@training
def test_cli_errors_are_clear(tensorflow, tmp_path, capsys, default_model_dir):
    (tmp_path / "config.json").write_text("{}")
    code = vs_seed.main(["--run", str(tmp_path), "--bundle", str(default_model_dir), "-n", "1"])
    assert code == vs_seed.EXIT_USAGE
    assert f"--run {tmp_path}: no vocab.json" in capsys.readouterr().err
    help_text = " ".join(vs_seed.build_parser().format_help().split())  # unwrap the lines
    assert "needs the training extra (TensorFlow): pip install '.[train]'" in help_text


def test_without_tensorflow_it_says_what_to_install():
    # None in sys.modules makes `import tensorflow` raise ImportError, as when it is absent.
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from benchmarks import vs_seed\n"
        "sys.exit(vs_seed.main(['--run', 'runs/placeholder', '-n', '1']))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == vs_seed.EXIT_USAGE, done.stderr
    assert "needs the training extra (TensorFlow): pip install '.[train]'" in done.stderr


@training
def test_a_bundle_of_other_weights_with_the_same_settings_is_refused(run, bundle):
    training_info = {**bundle.manifest["training"], "weights_sha256": ["0" * 64]}
    other = dataclasses.replace(bundle, manifest={**bundle.manifest, "training": training_info})
    mismatches, _ = vs_seed.compare_with_bundle(run, other)
    assert [m.split(":")[0] for m in mismatches] == ["weights"]
