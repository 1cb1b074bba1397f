"""``captioner caption|search|library|merge|bench|gui|serve`` (see docs/runtime.md, docs/scale.md).

Exit codes of ``caption``: 0 every photo captioned, 1 some photos failed (the others are
written), 2 usage error or unusable model, 130 interrupted (what was done is written).
Of ``merge``: 0 merged, 1 photos missing or duplicated (reported; nothing written without
--partial), 2 usage error or an input that cannot be read.

Why one module of this size: it is the map of the commands (every argument parser in one
place, as ``--help`` shows them); the work is in pipeline.py, merge.py, library_cli.py,
bench.py and service/.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:  # imported where used: `captioner --help` loads no model code
    from tqdm import tqdm as Bar

    from desktop.captioner import Captioner
    from desktop.pipeline import Event
    from desktop.shards import Shard

from desktop.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 like argparse, but catchable by main()
        self.print_usage(sys.stderr)
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    """argparse type for a whole number in ``low..high`` (a clear error instead of a crash
    or gigabytes: ``--threads 100000`` segfaulted LiteRT, ``--beam 20000`` took 17.6 GB)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"{what} must be at most {high}, got {value}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


def positive_int(text: str) -> int:
    """argparse type for counts (photos, repeats): a whole number ≥ 1."""
    return _count(text)


_count = bounded_int(1, sys.maxsize, "count")
MAX_THREADS = 256
MAX_BEAM = 50
MAX_LENGTH = 200
threads_arg = bounded_int(1, MAX_THREADS, "threads")
beam_arg = bounded_int(1, MAX_BEAM, "beam")
length_arg = bounded_int(1, MAX_LENGTH, "max-length")
port_arg = bounded_int(0, 65535, "port")  # 0: any free port


def _shard(text: str) -> Shard:
    from desktop.shards import Shard

    try:
        return Shard.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    from desktop.outputs import FORMATS
    from desktop.runtime import ACCELERATORS

    parser = _Parser(prog="captioner", description="Describe photos in plain English, offline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more (on stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def model_options(p: argparse.ArgumentParser, runtime: bool = True) -> None:
        p.add_argument(
            "--model", metavar="DIR", help="model bundle folder (default: models/default)"
        )
        if runtime:
            p.add_argument(
                "--threads",
                type=threads_arg,
                metavar="N",
                help="CPU threads for the model (default: one per core, at most 4)",
            )
            p.add_argument(
                "--delegate",
                metavar="LIB",
                help="external LiteRT delegate library (GPU, Edge TPU, NPU); "
                "falls back to the CPU with a warning if it cannot load",
            )
            accelerator_option(p)

    def accelerator_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--accelerator",
            choices=ACCELERATORS,
            help="where the photo models run: auto (default; $CAPTIONER_ACCELERATOR overrides) "
            "= a GPU or NPU where LiteRT finds one, else the CPU; gpu/npu fall back to the CPU "
            "with a warning",
        )

    p = sub.add_parser("caption", help="caption photos and folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="photos and/or folders")
    p.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="output format (default: from --output's extension, else txt)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write results here (default: stdout)")
    p.add_argument(
        "--beam",
        type=beam_arg,
        default=3,
        metavar="N",
        help="beam width; 1 is greedy (default: 3)",
    )
    p.add_argument(
        "--max-length",
        type=length_arg,
        metavar="N",
        help="longest caption in words (default: the model's)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip photos already in --output and add the rest to it",
    )
    p.add_argument(
        "--write-xmp",
        action="store_true",
        help="also write the caption into an XMP sidecar (photo.xmp) beside each photo",
    )
    p.add_argument(
        "--overwrite-descriptions",
        action="store_true",
        help="with --write-xmp, also replace sidecar descriptions this app did not write",
    )
    p.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="caption only shard K of N (0 ≤ K < N) of one folder, for running N copies "
        "on a cluster; merge the outputs with `captioner merge` (docs/scale.md)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--no-text",
        action="store_true",
        help="do not read the text in the photos (the model's text reader; faster)",
    )
    p.add_argument(
        "--no-library",
        action="store_true",
        help="do not record the captions in the caption library (captioner library --path)",
    )
    model_options(p)

    p = sub.add_parser("search", help="find photos in the caption library by their words")
    p.add_argument(
        "words",
        nargs="+",
        metavar="WORD",
        help="words of the caption, your own "
        "text, the objects or the text read in the photo (every word must match; 'dog' also "
        "finds 'dogs')",
    )
    p.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="text: path<TAB>caption per line (default); jsonl: one record a line",
    )
    p.add_argument(
        "--limit",
        type=positive_int,
        default=200,
        metavar="N",
        help="at most N photos, best first (default: 200)",
    )

    p = sub.add_parser("library", help="where the caption library is, forget or export it")
    p.add_argument(
        "folders",
        nargs="*",
        metavar="FOLDER",
        help="only the photos in these folders (for --export, --write-xmp)",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--path", action="store_true", help="print where the library file is")
    what.add_argument(
        "--forget",
        action="append",
        metavar="FOLDER",
        help="remove every photo in FOLDER (and below) from the library (repeatable)",
    )
    what.add_argument(
        "--export",
        metavar="FILE",
        help="write the library's captions to FILE ('-': stdout); your own "
        "words win over the model's",
    )
    what.add_argument(
        "--write-xmp",
        action="store_true",
        help="write each photo's caption into an XMP sidecar beside it",
    )
    p.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        help="--export's format (default: from FILE's extension, else jsonl)",
    )
    p.add_argument(
        "--overwrite-descriptions",
        action="store_true",
        help="with --write-xmp, also replace sidecar descriptions this app did not write",
    )

    p = sub.add_parser(
        "merge",
        help="combine the outputs of sharded runs into one file",
        usage="captioner merge [-h] (OUT | -o OUT) SHARD_OUTPUT [SHARD_OUTPUT ...] [options]",
    )
    p.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="OUT (unless -o is given), then the outputs of the shards",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="merged file (format from its extension or -f); as caption's -o. Without it "
        "the first PATH is OUT. Never written over if it is an input, a shard's output or "
        "any file but an earlier merge's",
    )
    p.add_argument("-f", "--format", choices=FORMATS, help="output format")
    p.add_argument(
        "--expect",
        metavar="DIR",
        help="check against this folder's photos (walked again) instead of the shards' lists",
    )
    p.add_argument(
        "--no-recursive", action="store_true", help="--expect: do not descend into sub-folders"
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="write the merge even if photos are missing or duplicated (still exit status 1)",
    )
    p.add_argument(
        "--relative",
        action="store_true",
        help="write paths relative to the shards' root (the machines' mount points differ)",
    )

    p = sub.add_parser("bench", help="measure speed and memory on this computer")
    p.add_argument("--images", metavar="DIR", help="folder of photos (default: the samples)")
    p.add_argument(
        "--limit",
        type=positive_int,
        default=500,
        metavar="N",
        help="photos for the throughput run (default: 500)",
    )
    p.add_argument(
        "--repeat",
        type=positive_int,
        default=30,
        metavar="N",
        help="photos for the latency figures (default: 30)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    model_options(p)

    p = sub.add_parser("gui", help="open the desktop app")
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="photos or folders of photos to open (what a file manager's Open With passes)",
    )
    p.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window here")
    p.add_argument(
        "--exit-when-done",
        action="store_true",
        help="quit once the photos are captioned (for scripted runs)",
    )
    model_options(p, runtime=False)

    p = sub.add_parser("licences", help="what the app and its model are made of, and licences")
    p.add_argument("--model", metavar="DIR", help="model bundle folder (default: models/default)")
    p.add_argument("--full", action="store_true", help="also print the licence texts")

    p = sub.add_parser("serve", help="run the local REST service")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=port_arg, default=8081, help="port (default: 8081)")
    p.add_argument(
        "--allow-paths",
        action="append",
        metavar="DIR",
        help="folder whose photos may be captioned by path (repeatable)",
    )
    p.add_argument("--threads", type=threads_arg, metavar="N", help="CPU threads per model")
    p.add_argument("--model", metavar="DIR", help="model bundle folder (default: models/default)")
    accelerator_option(p)

    p = sub.add_parser("info", help="the runtime, the accelerators found, and the model bundle")
    model_options(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as e:
        print(e, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help
        return int(e.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s"
    )
    from desktop.runtime import FallbackWarning

    # The runtime logs each fallback to the CPU (shown above); its warning would say it twice.
    warnings.filterwarnings("ignore", category=FallbackWarning)
    handler = {
        "caption": cmd_caption,
        "merge": cmd_merge,
        "bench": cmd_bench,
        "gui": cmd_gui,
        "serve": cmd_serve,
        "licences": cmd_licences,
        "search": cmd_search,
        "library": cmd_library,
        "info": cmd_info,
    }
    try:
        return handler[args.command](args)
    except KeyboardInterrupt:
        print("captioner: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `captioner caption photos | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as e:
        if args.command != "caption":
            raise
        # Finishing the output failed (disk full, …): its journal and earlier file are kept.
        return _write_failed(e.filename, e)


def _error(message: str) -> None:
    print(f"captioner: error: {message}", file=sys.stderr)


def _load(args: argparse.Namespace) -> Captioner | None:
    from desktop import CaptionerError
    from desktop.captioner import Captioner

    try:
        return Captioner.load(
            args.model,
            threads=getattr(args, "threads", None),
            delegate=getattr(args, "delegate", None),
            accelerator=getattr(args, "accelerator", None),
        )
    except ValueError as e:  # --delegate with --accelerator gpu
        _error(str(e))
        return None
    except CaptionerError as e:
        _error(f"cannot use the model: {e}")
        return None


def cmd_caption(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from desktop import pipeline
    from desktop.captioner import CaptionOptions
    from desktop.outputs import format_for

    fmt = args.format or format_for(args.output) or ("jsonl" if args.output else "txt")
    output = None if args.output in (None, "-") else args.output
    sinks: list[pipeline.SinkSpec] = [pipeline.OutputFile(output, fmt, resume=args.resume)]
    if not args.no_library:
        sinks.append(pipeline.LibraryRecords())
    if args.write_xmp:
        sinks.append(pipeline.Sidecars(overwrite=args.overwrite_descriptions))
    job = pipeline.Job(
        paths=tuple(args.paths),
        options=CaptionOptions(
            beam_width=args.beam,
            max_length=args.max_length,
            with_attention=False,
            read_text=not args.no_text,
        ),
        recursive=args.recursive,
        shard=args.shard,
        sinks=tuple(sinks),
    )
    problem = job.problem()
    if problem:
        _error(problem)
        return EXIT_USAGE
    captioner = _load(args)
    if captioner is None:
        return EXIT_USAGE
    problem = job.model_problem(captioner.bundle)
    if problem:
        _error(problem)
        return EXIT_USAGE
    if captioner.bundle.objects_note:
        print(f"captioner: note: {captioner.bundle.objects_note}", file=sys.stderr)

    bar: Bar | None = None

    def say(text: str) -> None:
        if bar is None:
            print(text, file=sys.stderr)
        else:
            bar.write(text, file=sys.stderr)

    def tell(event: Event) -> None:
        nonlocal bar
        if isinstance(event, pipeline.PhotoDone):
            assert bar is not None  # Started comes first
            bar.update()
        elif isinstance(event, pipeline.Message):
            say(f"captioner: {event.level}: {event.text}")
        elif isinstance(event, pipeline.Started):
            if not event.total and not event.previous:
                say(
                    "captioner: no photos found (folders are searched for photo file names; "
                    "-r descends into sub-folders)"
                )
            if args.resume and event.previous:
                say(f"captioner: resuming: {event.previous} already done, {event.total} to go")
            bar = tqdm(
                total=event.total,
                unit="photo",
                file=sys.stderr,
                dynamic_ncols=True,
                disable=True if args.no_progress else None,
            )

    try:
        summary = pipeline.run(job, captioner, tell)
    except pipeline.SinkError as e:
        _error(str(e))
        return EXIT_USAGE
    except pipeline.OutputFailed as e:
        return _write_failed(e.where, e.error)
    finally:
        if bar is not None:
            bar.close()
    if summary.stopped:
        print("captioner: interrupted; results so far are written (use --resume)", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if summary.ok else EXIT_FAILED


def _write_failed(output: str | os.PathLike | None, e: OSError) -> int:
    _error(
        f"cannot write {output or 'the output'}: {e.strerror or e}; what was finished is "
        "kept (run again with --resume once it is fixed)"
    )
    return EXIT_FAILED


def cmd_search(args: argparse.Namespace) -> int:
    from desktop.library_cli import cmd_search as search

    return search(args)


def cmd_library(args: argparse.Namespace) -> int:
    from desktop.library_cli import cmd_library as library

    return library(args)


def cmd_merge(args: argparse.Namespace) -> int:
    from desktop.merge import MergeError, MergeOptions, merge

    options = MergeOptions(
        fmt=args.format,
        expect=args.expect,
        recursive=not args.no_recursive,
        partial=args.partial,
        relative=args.relative,
    )
    if args.output is not None:
        out, inputs = args.output, args.paths
    elif len(args.paths) >= 2:
        out, inputs = args.paths[0], args.paths[1:]
    else:
        _error("merge needs OUT and at least one shard output (or -o OUT)")
        return EXIT_USAGE
    try:
        report = merge(out, inputs, options)
    except (MergeError, OSError) as e:
        _error(str(e))
        return EXIT_USAGE
    for line in report.lines(out):
        print(f"captioner: {line}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_bench(args: argparse.Namespace) -> int:
    from desktop.bench import format_report, run_bench

    captioner = _load(args)
    if captioner is None:
        return EXIT_USAGE
    try:
        report = run_bench(captioner, images=args.images, limit=args.limit, repeat=args.repeat)
    except ValueError as e:
        _error(str(e))
        return EXIT_USAGE
    if args.json:
        import json

        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return EXIT_OK


def cmd_licences(args: argparse.Namespace) -> int:
    from desktop import BundleError
    from desktop.bundle import load_bundle
    from desktop.licences import APP, full_text, notice
    from desktop.paths import default_model_dir

    try:
        bundle = load_bundle(args.model or default_model_dir())
    except BundleError as e:
        _error(f"cannot use the model: {e}")
        return EXIT_USAGE
    print(full_text(bundle) if args.full else f"{APP}\n\n{notice(bundle)}")
    return EXIT_OK


def cmd_gui(args: argparse.Namespace) -> int:
    try:
        from desktop.gui.app import run
    except ImportError as e:
        _error(f"the desktop app is not available ({e}); install it with: pip install '.[gui]'")
        return EXIT_USAGE
    return int(
        run(
            args.paths,
            model_dir=args.model,
            screenshot=args.screenshot,
            exit_when_done=args.exit_when_done,
        )
        or 0
    )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from desktop.service import serve
    except ImportError as e:
        _error(
            f"the REST service is not available ({e}); install it with: pip install '.[service]'"
        )
        return EXIT_USAGE
    return int(
        serve(
            host=args.host,
            port=args.port,
            model_dir=args.model,
            allow_paths=args.allow_paths,
            threads=args.threads,
            accelerator=args.accelerator,
        )
        or 0
    )


def cmd_info(args: argparse.Namespace) -> int:
    """What runs the models here: `auto`'s choice on this machine, and why."""
    from desktop.runtime import find_accelerators, runtime_version

    captioner = _load(args)
    if captioner is None:
        return EXIT_USAGE
    b = captioner.bundle
    print(f"runtime       {runtime_version()}")
    for i, found in enumerate(find_accelerators(b.encoder.path)):
        state = "found" if found.available else "not found"
        print(f"{'accelerators' if i == 0 else '':<13} {found.name}: {state} ({found.detail})")
    print(f"in use        {captioner.accelerator} (asked: {captioner.options.accelerator})")
    for model in captioner.models:
        why = model.partial if model.accelerator != "cpu" else model.fallback
        print(f"{'':<13} {model.path.name}: {model.accelerator}" + (f" ({why})" if why else ""))
    print(
        f"bundle        {b.name}, format {b.format_version}, {b.backbone} "
        f"{b.input_size[0]}px, {b.quantization} ({b.path})"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
