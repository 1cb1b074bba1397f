"""Objects and confidence on the dev sets: recall, hallucination, calibration, the unsure flag.

    nice -n 10 python benchmarks/objects_eval.py --bundle models/default \\
        --coco ../shared/datasets/coco-ood-dev --flickr8k ../shared/datasets/flickr8k \\
        [--fit] [--plot models/default/card/reliability.png] [--detector DIR]

Captions every dev photo once (beam 3, as the app does) and caches, per photo, the caption,
its score and the encoder's 1,000 class probabilities under ``--cache`` (reruns are
seconds). Then, judged against the human reference captions only:

- **objects**: the share of photos whose object list names a *salient* non-person thing
  (one that at least 3 of the 5 references name, synonyms counted by the label table's
  groups), and the share of listed objects that no reference names (hallucinated);
- **caption right**: the caption names a salient thing (people included): the label the
  confidence is calibrated against;
- **confidence**: a logistic model over ``desktop.confidence.FEATURES``, fitted on both dev
  sets together (weighted so that each set counts equally); its expected calibration error
  (10 equal-width bins) from 5-fold cross-validation (each photo scored by a model that did
  not see it), a reliability plot, and what the ``unsure`` threshold flags. ``--fit``
  stores the model fitted on all photos in the bundle's manifest.

These are dev sets: tuning thresholds and fitting the calibration on them is what they are
for; nothing here trains the captioner. ``--detector`` measures the COCO detector of
``../shared/weights/ssd_mobilenet_v2_coco`` on the ``val2017_images.txt`` photos (the fair
subset), alone and added to the classifier, with its time per photo.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from converter.judging import SALIENT, ece, read_references, reference_groups  # noqa: E402, F401
from desktop.bundle import load_bundle  # noqa: E402
from desktop.captioner import Captioner, CaptionOptions  # noqa: E402
from desktop.confidence import FEATURES, Calibration, confidence_features  # noqa: E402
from desktop.detections import Detections  # noqa: E402
from desktop.grounding import Grounding  # noqa: E402
from desktop.objects import ObjectNamer, Terms  # noqa: E402
from desktop.runtime import default_threads  # noqa: E402

UNSURE_BELOW = 0.5  # unsure when the caption is more likely wrong than right


@dataclass
class Photo:
    path: Path
    references: list[str]
    words: tuple[str, ...] = ()
    score: float = 0.0
    probabilities: np.ndarray | None = None
    detections: np.ndarray | None = None  # format 4: the detector's per-class best scores


def dev_sets(args) -> dict[str, list[Photo]]:
    sets = {}
    if args.coco:
        refs = read_references(args.coco / "captions.token.txt")
        sets["coco-ood-dev"] = [Photo(args.coco / "images" / n, r) for n, r in sorted(refs.items())]
    if args.flickr8k:
        dev = set((args.flickr8k / "Flickr_8k.devImages.txt").read_text().split())
        refs = read_references(args.flickr8k / "Flickr8k.token.txt", dev)
        folder = args.flickr8k / "Flicker8k_Dataset"
        sets["flickr8k-dev"] = [Photo(folder / n, r) for n, r in sorted(refs.items())]
    return sets


def caption_all(captioner: Captioner, name: str, photos: list[Photo], cache: Path, beam: int):
    """Fill in caption, score and class probabilities, from the cache where it has them."""
    b = captioner.bundle
    encoder_sha = b.manifest["files"][b.encoder.path.name]["sha256"][:12]
    file = cache / f"{b.name}-{encoder_sha}-{name}-beam{beam}.npz"
    if file.is_file():
        data = np.load(file, allow_pickle=False)
        found = data["detections"] if "detections" in data else [None] * len(photos)
        for photo, words, score, probs, best in zip(
            photos, data["words"], data["score"], data["probabilities"], found, strict=True
        ):
            photo.words, photo.score = tuple(str(words).split()), float(score)
            photo.probabilities = probs.astype(np.float32)
            photo.detections = None if best is None else best.astype(np.float32)
        return
    start = time.perf_counter()
    for i, photo in enumerate(photos):
        # The facade's caption, plus the raw class probabilities (and detections) it reduces
        # to names, computed again here (cheap) so the thresholds can be swept.
        pixels = captioner.pixels(photo.path)
        result = captioner.caption_pixels(pixels, CaptionOptions(beam_width=beam))
        found = captioner._detect(pixels)
        encoded = captioner._encode(pixels, found)
        photo.words = result.words
        photo.score = float(result.score)
        photo.probabilities = encoded[b.objects_output].reshape(-1).astype(np.float32)
        photo.detections = None if found is None else found.best.astype(np.float32)
        if (i + 1) % 100 == 0:
            print(f"  {name}: {i + 1}/{len(photos)} ({time.perf_counter() - start:.0f} s)")
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        file,
        words=np.array([" ".join(p.words) for p in photos]),
        score=np.array([p.score for p in photos]),
        probabilities=np.stack([p.probabilities for p in photos]).astype(np.float16),
        **(
            {"detections": np.stack([p.detections for p in photos]).astype(np.float16)}
            if photos and photos[0].detections is not None
            else {}
        ),
    )


@dataclass
class Judged:
    salient: set[str]
    present: set[str]
    listed: list[str]  # groups of the listed objects
    caption_right: bool
    features: dict[str, float]


def judge(photos: list[Photo], grounding: Grounding, threshold: float) -> list[Judged]:
    """``threshold``: the classifier's listing threshold (the detector's stays the bundle's)."""
    out = []
    namer = grounding.namer
    terms = namer.terms
    swept = Grounding(
        ObjectNamer.with_threshold(namer, threshold),
        grounding.labels,
        grounding.threshold,
        grounding.floor,
    )
    for p in photos:
        counts = reference_groups(terms, p.references)
        salient = {g for g, c in counts.items() if c >= SALIENT}
        found = None if p.detections is None else Detections(best=p.detections, counts={})
        evidence = swept.evidence(namer.name_scores(p.probabilities), found)
        # Listed things, once each ("sailboat" and "boat" are one boat to a reference).
        listed = list(dict.fromkeys(terms.group(o.name) for o in swept.objects(evidence)))
        out.append(
            Judged(
                salient=salient,
                present=set(counts),
                listed=listed,
                caption_right=bool(terms.find(list(p.words)) & salient),
                features=confidence_features(p.score, p.words, evidence, swept),
            )
        )
    return out


def object_figures(judged: list[Judged]) -> dict:
    named = sum(bool(set(j.listed) & (j.salient - {"person"})) for j in judged)
    with_salient = [j for j in judged if j.salient - {"person"}]
    named_of_those = sum(bool(set(j.listed) & (j.salient - {"person"})) for j in with_salient)
    listed = sum(len(j.listed) for j in judged)
    absent = sum(g not in j.present for j in judged for g in j.listed)
    return {
        "photos": len(judged),
        "names_salient": named / max(len(judged), 1),
        "photos_with_salient_thing": len(with_salient),
        "names_salient_where_one": named_of_those / max(len(with_salient), 1),
        "objects_listed": listed,
        "objects_per_photo": listed / max(len(judged), 1),
        "hallucinated": absent / max(listed, 1),
        "caption_right": sum(j.caption_right for j in judged) / max(len(judged), 1),
    }


# -- calibration ------------------------------------------------------------------------------


def fit_logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, l2: float = 1e-3, steps: int = 50
) -> np.ndarray:
    """Weights (last one the bias) by Newton's method on a weighted log-loss; a little L2
    keeps them finite."""
    X = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (weight * (p - y)) + l2 * np.r_[w[:-1], 0]
        hess = (X * (weight * p * (1 - p))[:, None]).T @ X + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ w[:-1] + w[-1])))


def cross_validated(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, folds: int = 5, seed: int = 0
) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(len(y))
    out = np.zeros(len(y))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        out[test] = predict(fit_logistic(x[train], y[train], weight[train]), x[test])
    return out


def balanced(which: np.ndarray) -> np.ndarray:
    """Sample weights under which each dev set counts as much as the other: Flickr8k's
    1,000 photos would otherwise teach the model that captions are nearly always right."""
    sets = np.unique(which)
    weight = np.ones(len(which))
    for name in sets:
        weight[which == name] = len(which) / (len(sets) * (which == name).sum())
    return weight


def flags(p: np.ndarray, y: np.ndarray, below: float) -> dict:
    unsure = p < below
    wrong, good = y == 0, y == 1
    return {
        "unsure_below": below,
        "wrong_flagged": float(unsure[wrong].mean()) if wrong.any() else 0.0,
        "good_flagged": float(unsure[good].mean()) if good.any() else 0.0,
        "flagged": float(unsure.mean()),
        "right_when_sure": float(y[~unsure].mean()) if (~unsure).any() else 0.0,
    }


def plot(path: Path, curves: dict[str, list[tuple]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    for label, table in curves.items():
        xs = [row[3] for row in table]
        ys = [row[4] for row in table]
        sizes = [max(10, row[2] / 3) for row in table]
        ax.plot(xs, ys, marker="o", label=label)
        ax.scatter(xs, ys, s=sizes, alpha=0.3)
    ax.set_xlabel("confidence (mean in bin)")
    ax.set_ylabel("share of captions that name the main subject")
    ax.set_title("Confidence reliability (dev, 5-fold cross-validated)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot: {path}")


# -- the COCO detector (measured, not shipped) ------------------------------------------------


def detector_groups(model_dir: Path, photos: list[Photo], terms: Terms, thresholds: list[float]):
    """Per threshold and photo, the groups the detector finds (image level: each class's best
    anchor), and its median ms per photo on this machine's threads."""
    from PIL import Image

    from desktop.runtime import backend, default_threads

    labels = json.loads((model_dir / "labels.json").read_text())
    interpreter = backend().interpreter(
        model_path=str(model_dir / "ssd_mobilenet_v2_coco.tflite"), num_threads=default_threads()
    )
    interpreter.allocate_tensors()
    pixels = interpreter.get_input_details()[0]["index"]
    logits_out = next(d["index"] for d in interpreter.get_output_details() if d["shape"][-1] == 91)
    best_scores, times = [], []
    for p in photos:
        image = Image.open(p.path).convert("RGB").resize((300, 300), Image.Resampling.BILINEAR)
        x = np.asarray(image, np.float32)[None] / 127.5 - 1.0
        t0 = time.perf_counter()
        interpreter.set_tensor(pixels, x)
        interpreter.invoke()
        logits = interpreter.get_tensor(logits_out)[0]
        times.append((time.perf_counter() - t0) * 1e3)
        best_scores.append(1 / (1 + np.exp(-logits.max(axis=0))))
    found = {
        t: [
            {terms.group(labels[str(c)]) for c in range(1, 91) if str(c) in labels and b[c] >= t}
            for b in best_scores
        ]
        for t in thresholds
    }
    return found, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--coco", type=Path)
    parser.add_argument("--flickr8k", type=Path)
    parser.add_argument("--beam", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/work/scratch/objects/cache"))
    parser.add_argument("--fit", action="store_true", help="store the calibration in the bundle")
    parser.add_argument("--plot", type=Path, help="reliability plot (PNG)")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.2, 0.3, 0.4, 0.5])
    parser.add_argument("--detector", type=Path, help="folder of the COCO detector (measured)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()

    captioner = Captioner.load(args.bundle)
    namer = captioner.bundle.namer
    grounding = captioner.grounding
    if namer is None:
        sys.exit(f"{args.bundle}: has no objects (format 1?): python -m converter upgrade")
    sets = dev_sets(args)
    report: dict = {"bundle": str(args.bundle), "beam": args.beam, "sets": {}}
    judged_all: dict[str, list[Judged]] = {}
    for name, photos in sets.items():
        caption_all(captioner, name, photos, args.cache, args.beam)
        report["sets"][name] = {"objects": {}}
        for t in args.thresholds:
            figures = object_figures(judge(photos, grounding, t))
            report["sets"][name]["objects"][str(t)] = figures
            print(
                f"{name:14s} threshold {t:.2f}: names a salient thing for "
                f"{figures['names_salient']:.0%} of photos "
                f"({figures['names_salient_where_one']:.0%} of the "
                f"{figures['photos_with_salient_thing']} that have one), "
                f"{figures['objects_per_photo']:.2f} objects/photo, "
                f"{figures['hallucinated']:.0%} named by no reference; "
                f"caption right {figures['caption_right']:.0%}"
            )
        judged_all[name] = judge(photos, grounding, namer.threshold)

    # Confidence: pooled fit, cross-validated figures per set and together.
    names = list(judged_all)
    x = np.array([[j.features[f] for f in FEATURES] for n in names for j in judged_all[n]])
    y = np.array([j.caption_right for n in names for j in judged_all[n]], dtype=float)
    which = np.array([n for n in names for _ in judged_all[n]])
    weight = balanced(which)
    p_cv = cross_validated(x, y, weight)
    report["confidence"] = {}
    curves = {}
    for label, mask in [("both", np.ones(len(y), bool)), *[(n, which == n) for n in names]]:
        # flags and shares below are per photo, unweighted
        # "both": each set weighted equally, as in the fit.
        error, table = ece(p_cv[mask], y[mask], weight[mask] if label == "both" else None)
        fl = flags(p_cv[mask], y[mask], UNSURE_BELOW)
        report["confidence"][label] = {
            "photos": int(mask.sum()),
            "right": float(y[mask].mean()),
            "ece": error,
            "bins": table,
            **fl,
        }
        curves[
            f"{label}{' (sets weighted equally)' if label == 'both' else ''}, ECE {error:.3f}"
        ] = table
        print(
            f"confidence {label:14s}: ECE {error:.3f} (cross-validated), {y[mask].mean():.0%} "
            f"right; unsure below {UNSURE_BELOW}: flags {fl['wrong_flagged']:.0%} of wrong "
            f"captions and {fl['good_flagged']:.0%} of good ones; "
            f"{fl['right_when_sure']:.0%} right when not flagged"
        )
    w = fit_logistic(x, y, weight)
    calibration = Calibration(FEATURES, tuple(float(v) for v in w[:-1]), float(w[-1]), UNSURE_BELOW)
    report["calibration"] = calibration.to_manifest()
    print("calibration:", json.dumps(report["calibration"]))
    if args.plot:
        plot(args.plot, curves)

    if args.detector and args.coco:
        val = set((args.coco / "val2017_images.txt").read_text().split())
        photos = [p for p in sets["coco-ood-dev"] if p.path.name in val]
        judged = judge(photos, grounding, namer.threshold)
        report["detector"] = {"photos": len(photos)}
        report["detector"]["classifier"] = object_figures(judged)
        thresholds = [0.4, 0.5, 0.6]
        found_at, ms = detector_groups(args.detector, photos, namer.terms, thresholds)
        report["detector"]["ms_per_photo"] = ms
        for t in thresholds:
            found = found_at[t]
            alone = [
                Judged(j.salient, j.present, sorted(f - {"person"}), j.caption_right, j.features)
                for j, f in zip(judged, found, strict=True)
            ]
            both = [
                Judged(
                    j.salient,
                    j.present,
                    sorted(set(j.listed) | (f - {"person"})),
                    j.caption_right,
                    j.features,
                )
                for j, f in zip(judged, found, strict=True)
            ]
            report["detector"][str(t)] = {
                "detector": object_figures(alone),
                "classifier_and_detector": object_figures(both),
            }
            for label, figs in (
                ("classifier", report["detector"]["classifier"]),
                (f"detector {t}", object_figures(alone)),
                (f"both {t}", object_figures(both)),
            ):
                print(
                    f"val2017 ({len(photos)}) {label:14s}: names a salient thing for "
                    f"{figs['names_salient']:.0%} ({figs['names_salient_where_one']:.0%} of the "
                    f"{figs['photos_with_salient_thing']} with one), "
                    f"{figs['hallucinated']:.0%} hallucinated"
                )
        print(f"detector: {ms:.1f} ms per photo (median, {default_threads()} threads)")

    if args.fit:
        from converter.bundle_writer import write_manifest as _write_manifest

        bundle = load_bundle(args.bundle)
        manifest = dict(bundle.manifest)
        manifest["confidence"] = {
            **calibration.to_manifest(),
            "fitted_on": {n: len(judged_all[n]) for n in names},
            "label": "the caption names a thing at least 3 of 5 reference captions name",
            "ece_cross_validated": round(report["confidence"]["both"]["ece"], 4),
        }
        _write_manifest(args.bundle, manifest, list(manifest["files"]))
        print(f"calibration stored in {args.bundle}/manifest.json")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
