"""Mutation testing of the modules that guard users' data and words (``make mutants``).

For each module, mutmut (the ``mutants`` extra) changes one small thing at a time (an
operator, a constant, a condition, a dropped call) and runs the tests that cover the changed
function; a mutant no test notices *survives*. Each module runs in its own copy of the
checkout under ``--work`` with only its fast test files selected, so the run stays hours
shorter than the whole suite per mutant. Not part of CI (CPU-heavy; run it by hand, e.g.
after changing one of these modules or its tests) — the scores are kept in docs/testing.md.

    python -m tests.support.mutants                       # every module below
    python -m tests.support.mutants decoding service.paths --work /tmp/mutants
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Module of desktop/ (service.paths is desktop/service/paths.py) → the fast test files that
# cover it.
MODULES = {
    "decoding": ["tests/test_decoding.py"],
    "service.paths": ["tests/test_service.py", "tests/test_hostile_service.py"],
    "images": ["tests/test_images.py", "tests/test_hostile_photos.py"],
    "xmp": ["tests/test_xmp.py", "tests/test_hostile_xmp.py"],
    "bundle": ["tests/test_bundle.py", "tests/test_hostile_bundle.py"],
    # The caption-file modules: tests/test_outputs.py needs no model, so put it first.
    "outputs": ["tests/test_outputs.py", "tests/test_cli.py", "tests/test_hostile_outputs.py"],
    "formats": ["tests/test_outputs.py", "tests/test_hostile_outputs.py"],
    "records": ["tests/test_outputs.py", "tests/test_hostile_outputs.py"],
    "files": ["tests/test_outputs.py", "tests/test_hostile_outputs.py"],
}
COPIED = ("desktop", "tests", "models", "samples", "converter", "benchmarks", "pyproject.toml")
FLICKR = ROOT.parent / "shared" / "datasets" / "flickr8k" / "Flicker8k_Dataset"


def source(module: str) -> str:
    """The file of ``module`` (``service.paths`` → ``desktop/service/paths.py``)."""
    return f"desktop/{module.replace('.', '/')}.py"


def prepare(module: str, work: Path) -> Path:
    """A fresh copy of the checkout with a mutmut configuration for one module."""
    folder = work / module
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        original = ROOT / name
        if original.is_dir():
            shutil.copytree(original, folder / name, ignore=ignore)
        elif original.is_file():
            shutil.copy2(original, folder / name)
    tests = "\n    ".join(MODULES[module])
    # setup.cfg is read when pyproject.toml has no [tool.mutmut] (it has none: the
    # configuration differs per module).
    (folder / "setup.cfg").write_text(
        "[mutmut]\n"
        "source_paths = desktop\n"
        f"only_mutate = {source(module)}\n"
        "also_copy =\n    models\n    samples\n    converter\n    benchmarks\n"
        f"pytest_add_cli_args_test_selection =\n    {tests}\n"
        "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n    -q\n"
    )
    return folder


def results(folder: Path) -> dict[str, str]:
    """mutant name → status (killed, survived, timeout, no tests, …)."""
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in done.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            found[name] = status
    return found


def run(module: str, work: Path, children: int) -> dict:
    folder = prepare(module, work)
    # No PYTHONPATH: mutmut puts mutants/ first itself (a PYTHONPATH naming mutants/ before it
    # exists leaves a stale import cache entry, and the unmutated install gets imported).
    env = {**os.environ, "FLICKR8K_PHOTOS": str(FLICKR)}
    env.pop("PYTHONPATH", None)
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(children)],
        cwd=folder,
        env=env,
        check=False,
    )
    statuses = results(folder)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    summary = {
        "module": source(module),
        "tests": MODULES[module],
        "mutants": len(statuses),
        "killed": killed,
        "score": round(killed / len(statuses), 3) if statuses else None,
        "counts": counts,
        "survived": sorted(n for n, s in statuses.items() if s not in ("killed", "timeout")),
        "minutes": round((time.monotonic() - start) / 60, 1),
    }
    (work / f"{module}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.mutants", description=__doc__)
    parser.add_argument("modules", nargs="*", choices=[[], *MODULES], default=list(MODULES))
    parser.add_argument("--work", type=Path, default=ROOT / ".mutants")
    parser.add_argument("--children", type=int, default=2, help="mutants run at once")
    args = parser.parse_args(argv)
    for module in args.modules or MODULES:
        summary = run(module, args.work, args.children)
        print(
            f"{summary['module']}: {summary['killed']}/{summary['mutants']} killed "
            f"({summary['score']:.0%}) in {summary['minutes']} min; survived: "
            + (", ".join(summary["survived"]) or "none"),
            flush=True,
        )
    print(f"details: {args.work}/*.json; `cd {args.work}/MODULE && mutmut show NAME` for a diff")
    return 0


if __name__ == "__main__":
    sys.exit(main())
