"""``captioner merge OUT SHARD_OUTPUTS...``: one result file from the shards' outputs.

Records are matched by their path relative to the root they were captioned under
(``shards.relative_key``; the root comes from each output's ``.shard.json``, or is
``--expect DIR``, or the current folder), so outputs written on machines that mount the
archive in different places merge cleanly, whether their records carry absolute or relative
paths. The merged file is sorted by that relative path (code-point order) and every field of
every record is carried through unchanged, including fields this version does not know.

Checked, and reported (exit status 1, and nothing written unless ``partial``):

- a photo with no record (against ``--expect DIR`` walked again, else the photo lists of the
  ``.shard.json`` files), a shard of N with no output, outputs from different N or walks;
- a photo with more than one record (two shards, or the same output given twice);
- a record for a photo not expected (a shard run over another folder or with another N);
- an output left by an interrupted run (its journal ``FILE.partial`` beside it: resume that
  shard);
- shards captioned by different models (the bundle id in each ``.shard.json``), naming which.

What is never written over (``MergeError``, exit status 2, nothing touched): one of the
inputs, a shard's output (``.shard.json`` beside it: ``merge a.jsonl b.jsonl`` forgot OUT),
and any existing file that is not this command's own earlier output. A merge writes
``OUT.merge.json`` beside OUT holding OUT's SHA-256, so merging again into OUT (a shard
redone) is allowed only while OUT is the file it wrote, byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from desktop.files import regular_target, write_atomic
from desktop.formats import OutputError, format_for, read_rows, rendered_rows
from desktop.outputs import journal_path
from desktop.shards import ShardError, ShardInfo, info_path, read_info, relative_key
from desktop.walk import display_path, find_photos

MARK_VERSION = 1


class MergeError(Exception):
    """An input that cannot be read at all, or an output that must not be written over
    (usage error)."""


def mark_path(output: str | os.PathLike) -> Path:
    """``OUT.merge.json``: what tells a merge's own output from any other file."""
    return Path(os.fspath(output) + ".merge.json")


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _is_own_output(output: str) -> bool:
    try:
        mark = json.loads(mark_path(output).read_text(encoding="utf-8"))
        return (
            isinstance(mark, dict)
            and mark.get("captioner_merge") == MARK_VERSION
            and mark.get("sha256") == _sha256(regular_target(output))
        )
    except (OSError, ValueError):
        return False


def _same_file(a: str, b: str) -> bool:
    # Symbolic and hard links to an input are that input.
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(output: str, inputs: Sequence[str]) -> None:
    """Raise ``MergeError`` unless ``output`` may be written: a new file, or this command's
    own earlier output left as it wrote it (never an input, a shard's output or a file of
    anyone else)."""
    if any(_same_file(path, output) for path in inputs):
        raise MergeError(f"{output} is one of the inputs: merge into another file")
    try:
        target = regular_target(output)
    except OSError as e:
        raise MergeError(e.strerror or str(e)) from None
    if not target.exists():
        return
    if info_path(output).exists():
        raise MergeError(
            f"{output} is a shard's output ({info_path(output).name} is beside it), not a "
            "merge: name the merged file first (captioner merge OUT SHARDS…) or with -o FILE; "
            "it was left unchanged"
        )
    if _is_own_output(output):
        return
    raise MergeError(
        f"{output} already exists and is not the output of an earlier merge (no matching "
        f"{mark_path(output).name} beside it); it was left unchanged: merge into a new "
        "file, or move it away first"
    )


@dataclass(frozen=True)
class MergeOptions:
    fmt: str | None = None  # output format; default from OUT's extension
    expect: str | None = None  # folder whose photos must all be present
    recursive: bool = True  # how --expect is walked
    partial: bool = False  # write the merge even when something is missing or duplicated
    relative: bool = False  # write paths relative to the root instead of as recorded


@dataclass(frozen=True)
class MergeReport:
    records: int
    failed: int  # records of photos that could not be captioned (carried through)
    written: bool
    missing: tuple[str, ...] = ()
    duplicated: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key → sources
    unexpected: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # shard-level: absent shards, mixed N, interrupted runs
    notes: tuple[str, ...] = ()  # worth saying, not a failure

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.problems)

    def lines(self, output: str, limit: int = 10) -> list[str]:
        """What to tell the user: problems (each list cut to ``limit`` names), then the outcome."""
        out = [*self.notes, *self.problems]

        def listed(what: str, keys: Sequence[str], describe=lambda k: k) -> None:
            if keys:
                out.append(f"{len(keys)} {what}:")
                out.extend(f"  {describe(k)}" for k in keys[:limit])
                if len(keys) > limit:
                    out.append(f"  … and {len(keys) - limit} more")

        listed("photo(s) missing (no record in any output)", self.missing)
        listed(
            "photo(s) with more than one record",
            list(self.duplicated),
            lambda k: f"{k}  (in {', '.join(self.duplicated[k])})",
        )
        listed("record(s) for photos not expected here", self.unexpected)
        if not self.written:
            out.append(f"{output} not written (--partial writes it anyway)")
            return out
        failed = f" ({self.failed} of photos that could not be captioned)" if self.failed else ""
        out.append(f"merged {self.records} records{failed} into {output}")
        return out


@dataclass(frozen=True)
class _Input:
    path: str
    fmt: str
    info: ShardInfo | None


def _inputs(paths: Sequence[str]) -> list[_Input]:
    seen: set[str] = set()
    inputs = []
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            raise MergeError(f"{path} is given twice")
        seen.add(real)
        try:
            info = read_info(path)
        except ShardError as e:
            raise MergeError(str(e)) from e
        fmt = info.format if info else format_for(path)
        if fmt is None:
            raise MergeError(
                f"{path}: cannot tell its format from its name (.jsonl/.json/.csv/.txt)"
            )
        inputs.append(_Input(path, fmt, info))
    return inputs


def merge(output: str, paths: Sequence[str], options: MergeOptions = MergeOptions()) -> MergeReport:
    """Merge ``paths`` into ``output`` (atomically); raises MergeError for unusable input."""
    fmt = options.fmt or format_for(output)
    if fmt is None:
        raise MergeError(f"{output}: cannot tell the output format from the name; use --format")
    check_output(output, paths)
    inputs = _inputs(paths)
    cwd = display_path(os.path.abspath(os.getcwd()))
    default_root = display_path(os.path.abspath(options.expect)) if options.expect else cwd

    problems: list[str] = []
    notes: list[str] = []
    rows: dict[str, tuple[int, dict]] = {}  # key → (input number, the first record)
    duplicated: dict[str, list[str]] = {}
    for number, item in enumerate(inputs):
        if journal_path(item.path).exists():
            problems.append(
                f"{item.path}: its run was interrupted ({journal_path(item.path).name} is "
                "beside it): run that shard again with --resume"
            )
        try:
            read = read_rows(item.path, item.fmt)
        except OutputError as e:
            raise MergeError(str(e)) from e
        for row in read:
            key = (
                item.info.key(row["path"])
                if item.info
                else relative_key(row["path"], default_root, cwd)
            )
            if key in rows:
                duplicated.setdefault(key, [inputs[rows[key][0]].path]).append(item.path)
                continue
            if options.relative:
                row["path"] = key
            rows[key] = (number, row)

    expected = _expected(inputs, options, problems, notes)
    missing = sorted(expected - rows.keys()) if expected is not None else []
    unexpected = sorted(rows.keys() - expected) if expected is not None else []
    report = MergeReport(
        records=len(rows),
        failed=sum(1 for _, r in rows.values() if r.get("error") is not None),
        written=False,
        missing=tuple(missing),
        duplicated={k: tuple(v) for k, v in duplicated.items()},
        unexpected=tuple(unexpected),
        problems=tuple(problems),
        notes=tuple(notes),
    )
    if report.ok or options.partial:
        write_atomic(output, rendered_rows([rows[k][1] for k in sorted(rows)], fmt))
        # After the output: a crash between the two leaves an output the next merge
        # refuses (safe), never a mark that vouches for another file.
        mark = {"captioner_merge": MARK_VERSION, "sha256": _sha256(regular_target(output))}
        write_atomic(mark_path(output), json.dumps(mark) + "\n")
        report = dataclasses.replace(report, written=True)
    return report


def _expected(
    inputs: list[_Input], options: MergeOptions, problems: list[str], notes: list[str]
) -> set[str] | None:
    """Every photo that should have a record, or None when there is nothing to check against;
    adds what is wrong with the set of shards to ``problems``."""
    infos = [i.info for i in inputs if i.info]
    if infos:
        for item in inputs:
            if item.info is None:
                problems.append(f"{item.path} has no .shard.json (not written by --shard)")
        counts = sorted({i.shard.count for i in infos})
        if len(counts) > 1:
            problems.append(f"the outputs come from different shard counts: {counts}")
        if len({i.recursive for i in infos}) > 1:
            problems.append("some shards ran with -r and some without: they saw different photos")
        given = Counter(i.shard.index for i in infos)
        for index in sorted(i for i, n in given.items() if n > 1):
            problems.append(f"shard {index}/{counts[-1]} is given more than once")
        absent = [f"{i}/{counts[-1]}" for i in range(counts[-1]) if i not in given]
        if absent:
            problems.append(f"no output for shard(s) {', '.join(absent)}")
        _check_bundles(inputs, problems, notes)
    if options.expect:
        root = display_path(os.path.abspath(options.expect))
        cwd = display_path(os.path.abspath(os.getcwd()))
        return {
            relative_key(display_path(f.path), root, cwd)
            for f in find_photos([options.expect], recursive=options.recursive)
        }
    if not infos:
        notes.append(
            "note: no .shard.json beside the outputs and no --expect DIR, so missing photos "
            "are not checked (duplicates are)"
        )
        return None
    return {key for info in infos for key in info.photos}


def _check_bundles(inputs: list[_Input], problems: list[str], notes: list[str]) -> None:
    """Shards captioned by different models do not make one result: say which differ."""
    by_bundle: dict[str, list[_Input]] = {}
    names: dict[str, str | None] = {}  # each model's name, as its first shard gives it
    unknown = []
    for item in inputs:
        if item.info is None:
            continue
        bundle = item.info.bundle
        if bundle is None:
            unknown.append(item.path)
        else:
            by_bundle.setdefault(bundle, []).append(item)
            names.setdefault(bundle, item.info.bundle_name)
    if len(by_bundle) > 1:
        groups = sorted(by_bundle.items(), key=lambda kv: len(kv[1]), reverse=True)
        described = "; ".join(
            f"{', '.join(i.path for i in group)}: model {names[bundle] or '?'!r} ({bundle[:12]})"
            for bundle, group in groups
        )
        problems.append(f"the shards were captioned by different models: {described}")
    if unknown and by_bundle:
        notes.append(
            f"note: the .shard.json of {', '.join(unknown)} names no model (written by an "
            "older version): not checked against the others"
        )
