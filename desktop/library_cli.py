"""``captioner search`` and ``captioner library``: the caption library from the command line.

Kept apart from desktop/cli.py (which parses the arguments) so that file stays the map of
the commands. Exit codes: 0 done (search: something found), 1 nothing found or some
sidecars not written, 2 the library cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from desktop.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:  # imported where used: `captioner caption` needs no SQLite
    from desktop.library import Entry, Library



def _say(message: str) -> None:
    print(f"captioner: {message}", file=sys.stderr)


def open_library(announce: bool = True) -> Library:
    """The user's library, with what the user must be told about it printed on stderr."""
    from desktop.library import Library

    library = Library()
    if announce:
        for note in library.notes:
            _say(f"note: {note}")
    return library


def entry_dict(entry: Entry) -> dict[str, object]:
    """One search hit as JSON: what an output record holds, plus what only the library has."""
    from desktop.library import output_record

    return {
        **output_record(entry).to_dict(),
        "model_caption": entry.caption,
        "user_caption": entry.user_caption,
        "reviewed": entry.reviewed,
        "bundle": entry.bundle,
        "sha256": entry.sha256,
    }


def cmd_search(args: argparse.Namespace) -> int:
    from desktop.library import LibraryError, fts_query

    if fts_query(args.words) is None:
        _say("error: give at least one word to search for")
        return EXIT_USAGE
    try:
        with open_library() as library:
            hits = library.search(args.words, limit=args.limit)
    except LibraryError as e:
        _say(f"error: {e}")
        return EXIT_USAGE
    for entry in hits:
        if args.format == "jsonl":
            print(json.dumps(entry_dict(entry), ensure_ascii=False))
        else:
            print(f"{entry.path}\t{entry.text or ''}")
    if not hits:
        _say(f"no photo in the library matches {' '.join(args.words)!r}")
    return EXIT_OK if hits else EXIT_FAILED


def cmd_library(args: argparse.Namespace) -> int:
    from desktop.library import LibraryError, library_path, output_record

    if args.path:
        print(library_path())
        return EXIT_OK
    try:
        with open_library() as library:
            if args.forget:
                for folder in args.forget:
                    count = library.forget(folder)
                    _say(f"forgot {count} photo{'' if count == 1 else 's'} in {folder}")
                return EXIT_OK
            entries = (
                [e for folder in args.folders for e in library.entries(folder)]
                if args.folders
                else library.entries()
            )
            if args.export:
                return _export(entries, args.export, args.format, output_record)
            if args.write_xmp:
                return _sidecars(entries, args.overwrite_descriptions)
            mine = sum(e.user_caption is not None for e in entries)
            reviewed = sum(e.reviewed for e in entries)
            print(f"library: {library.path}{' (in memory)' if library.in_memory else ''}")
            print(f"photos: {len(entries)} ({mine} with your own words, {reviewed} reviewed)")
            return EXIT_OK
    except LibraryError as e:
        _say(f"error: {e}")
        return EXIT_USAGE


def _export(entries: list, out: str, fmt: str | None, output_record) -> int:
    from desktop.files import write_atomic
    from desktop.formats import format_for, render

    fmt = fmt or format_for(out) or "jsonl"
    records = [output_record(e) for e in entries]
    text = render(records, fmt)
    if out == "-":
        sys.stdout.write(text)
    else:
        write_atomic(out, text)
        _say(f"wrote {len(records)} photo{'' if len(records) == 1 else 's'} to {out}")
    return EXIT_OK


def _sidecars(entries: list, overwrite: bool) -> int:
    from desktop import CaptionerError
    from desktop.xmp import DescriptionKept, write_description

    failed = 0
    written = 0
    for entry in entries:
        if not entry.text:
            continue
        photo = entry.file or entry.path
        mine = entry.user_caption is not None
        try:
            write_description(
                photo,
                entry.text,
                [o.name for o in entry.objects],
                overwrite=overwrite,
                unsure=entry.unsure and not mine,
            )
            written += 1
        except DescriptionKept as e:
            _say(f"note: {e}")
        except (CaptionerError, OSError) as e:
            _say(f"warning: {e}")
            failed += 1
    _say(f"wrote {written} sidecar{'' if written == 1 else 's'}")
    return EXIT_FAILED if failed else EXIT_OK
