"""What tests/test_shards.py and tests/test_merge.py both run: ``captioner caption`` and
``captioner merge`` through the CLI's ``main``, and the small archive they shard."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from desktop.cli import main


def caption(*args, model) -> int:
    return main(["caption", *map(str, args), "--model", str(model), "--no-progress", "--beam", "1"])


def merge(*args) -> int:
    return main(["merge", *map(str, args)])


def make_archive(tmp_path: Path, flickr_photos: list[Path]) -> Path:
    """A small archive: photos in the root and two sub-folders, an unreadable file and a
    name that is not UTF-8 (both must be reported by exactly one shard)."""
    root = tmp_path / "archive"
    for i, photo in enumerate(flickr_photos[:15]):
        folder = root / ("", "2019", "2019/june")[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, folder / photo.name)
    (root / "2019" / "empty.jpg").write_bytes(b"")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.jpg"), "wb") as f:
        f.write(flickr_photos[0].read_bytes())
    return root
