"""The standalone app: build.spec built with PyInstaller, then the frozen ``captioner`` run.

One PyInstaller build per module (about a minute on two cores) into a temporary folder; the
tests then run the frozen executable as a user would, from outside the checkout, with a
fresh home and config folder.
"""

from __future__ import annotations

import filecmp
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# The desktop app is LiteRT only: none of the training stack may end up in the bundle.
FORBIDDEN = ("tensorflow", "tf_keras", "keras", "torch", "matplotlib")
MAX_UNPACKED_MB = 250
# Settings and model overrides of the developer running the tests must not leak in.
_LEAKY_ENV = ("CAPTIONER_MODEL", "CAPTIONER_CONFIG_DIR", "PYTHONPATH", "PYTHONHOME")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, default_model_dir: Path) -> Path:
    """``dist/captioner`` built from build.spec into a temporary dist/work folder."""
    pytest.importorskip(
        "PyInstaller", reason="PyInstaller is not installed (pip install '.[build]')"
    )
    pytest.importorskip(
        "PySide6", reason="PySide6 is not installed, so the app's GUI cannot be bundled"
    )
    if sys.platform.startswith("linux") and shutil.which("objdump") is None:
        pytest.skip("PyInstaller needs objdump on Linux: apt-get install binutils")
    root = tmp_path_factory.mktemp("pyinstaller")
    done = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm",
         "--distpath", str(root / "dist"), "--workpath", str(root / "work"), "build.spec"],
        cwd=REPO, capture_output=True, text=True, timeout=900,  # a hang guard, not a speed test
    )
    assert done.returncode == 0, f"PyInstaller failed:\n{done.stderr[-4000:]}"
    folder = root / "dist" / "captioner"
    assert folder.is_dir(), f"no {folder} after the build"
    return folder


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a first run on a fresh account."""
    clean = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    clean.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    (tmp_path / "home").mkdir()
    return clean


def _executable(app: Path) -> Path:
    return app / ("captioner.exe" if os.name == "nt" else "captioner")


def test_frozen_cli_captions_every_sample_like_the_source_tree(
    app: Path, env: dict[str, str], tmp_path: Path, samples: list[Path], captioner
) -> None:
    from desktop.captioner import CaptionOptions

    done = subprocess.run(
        [str(_executable(app)), "caption", str(REPO / "samples"), "--format", "jsonl",
         "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = {Path(r["path"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert sorted(records) == sorted(p.name for p in samples)

    vocabulary = set(json.loads((REPO / "models" / "default" / "vocab.json").read_text()))
    for photo in samples:
        record = records[photo.name]
        caption = record["caption"]
        assert record["error"] is None and caption, record
        # An English sentence made of the model's own words, as the runtime formats it.
        assert re.fullmatch(r"[A-Z].*\.", caption), caption
        words = caption[:-1].lower().split()
        assert words and set(words) <= vocabulary, (caption, set(words) - vocabulary)
        # The same LiteRT and the same model as the checkout: the very same caption.
        expected = captioner.caption(photo, options=CaptionOptions(with_attention=False))
        assert caption == expected.text, photo.name


def test_frozen_gui_screenshot_and_settings_in_the_platform_config_folder(
    app: Path, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from desktop import settings as settings_store

    shot = tmp_path / "window.png"
    done = subprocess.run(
        [str(_executable(app)), "gui", str(REPO / "samples"), "--screenshot", str(shot),
         "--exit-when-done"],
        cwd=tmp_path, env={**env, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert image.shape[0] >= 600 and image.shape[1] >= 1000
    assert image.std() > 20  # photos, captions and a heat map, not a flat fill
    assert len(np.unique(image.reshape(-1, 3)[::7], axis=0)) > 1000

    # Opening a folder remembers it: the frozen app must write where platformdirs says.
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", env["HOME"])
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    saved = settings_store.settings_path()
    assert saved.is_file(), f"no settings at {saved}: {sorted(tmp_path.rglob('*.json'))}"
    assert json.loads(saved.read_text())["last_folder"] == str((REPO / "samples").resolve())


def test_frozen_service_captions_an_upload(app: Path, env: dict[str, str], tmp_path: Path,
                                           samples: list[Path], captioner) -> None:
    pytest.importorskip("flask", reason="Flask is not installed, so `serve` is not bundled")
    from desktop.captioner import CaptionOptions

    process = subprocess.Popen(
        [str(_executable(app)), "serve", "--port", "0", "--threads", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout], daemon=True).start()
    try:
        try:
            banner = lines.get(timeout=120)  # a hang guard, not a speed test
        except queue.Empty:
            pytest.fail("the frozen service printed nothing")
        match = re.search(r"http://\S+?:(\d+)/", banner)
        assert match, banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{match[1]}/caption", data=samples[0].read_bytes(),
            headers={"Content-Type": "image/jpeg"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            body = json.load(response)
        expected = captioner.caption(samples[0], options=CaptionOptions(with_attention=False))
        assert body["caption"] == expected.text
    finally:
        process.send_signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _assert_same_tree(left: Path, right: Path) -> None:
    comparison = filecmp.dircmp(left, right)
    assert not (comparison.left_only or comparison.right_only or comparison.diff_files), left
    for sub in comparison.common_dirs:  # the model card's figures
        _assert_same_tree(left / sub, right / sub)


def test_bundle_holds_the_model_folder_and_no_training_stack(app: Path) -> None:
    from PyInstaller.archive.readers import CArchiveReader

    # The model is copied as it is, wherever the build put it (one of paths.app_roots()).
    bundled = [p.parent for p in app.rglob("models/default/manifest.json")]
    assert len(bundled) == 1, bundled
    _assert_same_tree(REPO / "models" / "default", bundled[0])

    files = [p.relative_to(app).as_posix() for p in app.rglob("*")]
    assert not [f for f in files if any(name in f.lower() for name in FORBIDDEN)]

    archive = CArchiveReader(str(_executable(app)))
    pyz_name = next(name for name in archive.toc if name.endswith(".pyz"))
    modules = archive.open_embedded_archive(pyz_name).toc
    assert "desktop.captioner" in modules and "desktop.gui.app" in modules
    leaked = sorted({m.split(".")[0] for m in modules} & {*FORBIDDEN, "converter"})
    assert not leaked, f"the frozen app would import {leaked}"


def test_bundle_size(app: Path) -> None:
    sizes: dict[str, int] = {}
    for path in app.rglob("*"):
        if path.is_file() and not path.is_symlink():
            top = path.relative_to(app).parts[:2]
            sizes["/".join(top)] = sizes.get("/".join(top), 0) + path.stat().st_size
    total_mb = sum(sizes.values()) / 2**20
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:8]
    assert total_mb <= MAX_UNPACKED_MB, (
        f"{total_mb:.0f} MB unpacked; largest: "
        + ", ".join(f"{name} {size / 2**20:.0f} MB" for name, size in largest)
    )
