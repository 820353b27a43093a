"""emotionaldan-distill: distil the face-api teachers into a small EmotionalDAN checkpoint.

    emotionaldan-distill --config config/distill.yaml [--data-root DIR] [--steps N]
        [--output CKPT] [--report JSON] [--rebuild-targets] [--targets-only]
        [--eval-only CKPT]

1. Teacher targets (cached in the config's `targets` .npz; `--rebuild-targets` recomputes them).
2. Training on the `train` photos, checkpoint selection on `val` photos.
3. Evaluation on the `test` photos (never trained on) with the boxes of every detector, and the
   ship verdict: default only with ≥ 90 % top-1 agreement and landmark NME (vs ground truth)
   within 1.5x the teacher's; otherwise experimental.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SHIP_AGREEMENT = 0.90  # top-1 agreement with the teacher on held-out faces
SHIP_NME_RATIO = 1.5  # student NME vs ground truth / teacher NME vs ground truth


def verdict(metrics: dict[str, Any]) -> dict[str, Any]:
    """Ship as default only if both bars are met on held-out faces (see the module doc)."""
    agree = metrics.get("top1_agreement")
    s_gt, t_gt = metrics.get("student_nme_vs_gt"), metrics.get("teacher_nme_vs_gt")
    ratio = s_gt / t_gt if s_gt is not None and t_gt else None
    ok_agree = agree is not None and agree >= SHIP_AGREEMENT
    ok_nme = ratio is not None and ratio <= SHIP_NME_RATIO
    return {
        "agreement_ok": ok_agree,
        "nme_ratio": ratio,
        "nme_ok": ok_nme,
        "ship_as": "default" if ok_agree and ok_nme else "experimental",
    }


def _teacher_targets(cfg: dict[str, Any], root: Path | None, rebuild: bool) -> dict:
    from emotionaldan_ros.core.backends import create_recognizer
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.training import distill

    path = Path(cfg["targets"])
    photos = distill.read_manifest(cfg, root)
    if path.is_file() and not rebuild:
        targets = distill.load_targets(path)
        if [str(p.path) for p in photos] != [str(p) for p in targets["paths"]]:
            raise SystemExit(f"{path} was built from other photos: run with --rebuild-targets")
        targets["split"] = np.array([p.split for p in photos])  # the config decides the split
        return targets
    tcfg = cfg.get("teacher", {})
    recognizer = create_recognizer(
        "faceapi", landmark_model=tcfg.get("landmark_model", "face_landmark_68")
    )
    detectors = {}
    for name in tcfg.get("detectors", ["faceapi_ssd", "faceapi_tiny", "haar"]):
        params = {"score_threshold": tcfg["ssd_score_threshold"]} if name == "faceapi_ssd" else {}
        detectors[name] = create_detector(name, **params)
    targets = distill.build_targets(photos, recognizer, detectors, tcfg.get("min_face", 24))
    distill.save_targets(path, targets)
    return targets


def _split_summary(targets: dict) -> dict[str, Any]:
    from emotionaldan_ros.training.distill import SPLITS, faces_of

    out = {}
    for split in SPLITS:
        faces = faces_of(targets, split)
        photos = sorted(
            {Path(str(targets["paths"][p])).name for p in targets["face_photo"][faces]}
        )
        out[split] = {"faces": len(faces), "photos": photos}
    return out


def evaluate_all(recognizer: Any, targets: dict) -> dict[str, Any]:
    """Held-out (`test`) metrics with the boxes of every detector of the targets."""
    from emotionaldan_ros.training.distill import evaluate, faces_of

    test = faces_of(targets, "test")
    out = {str(s): evaluate(recognizer, targets, test, str(s)) for s in targets["box_sources"]}
    out["constant_baseline"] = constant_baseline(targets)
    return out


def constant_baseline(targets: dict) -> dict[str, Any]:
    """Top-1 agreement on test faces of always answering the teacher's commonest train class.

    A student is only useful if it beats this; with few faces it is often high (most faces in
    the photos are smiling).
    """
    from emotionaldan_ros.core.labels import emotion_names
    from emotionaldan_ros.training.distill import faces_of

    train, test = faces_of(targets, "train"), faces_of(targets, "test")
    if len(train) == 0 or len(test) == 0:
        return {}
    cls = int(np.bincount(targets["probs"][train].argmax(1)).argmax())
    agree = float(np.mean(targets["probs"][test].argmax(1) == cls))
    return {"class": emotion_names(targets["probs"].shape[1])[cls], "top1_agreement": agree}


def main(argv: list[str] | None = None) -> int:
    """Entry point of `emotionaldan-distill`."""
    parser = argparse.ArgumentParser(
        prog="emotionaldan-distill", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--config", type=Path, default=Path("config/distill.yaml"))
    parser.add_argument("--data-root", type=Path, help="folder of the photos (default: config)")
    parser.add_argument("--steps", type=int, help="training steps (default: config)")
    parser.add_argument("--output", type=Path, help="checkpoint to write (default: config)")
    parser.add_argument("--report", type=Path, help="write the metrics as JSON here")
    parser.add_argument("--rebuild-targets", action="store_true", help="recompute the teacher")
    parser.add_argument("--targets-only", action="store_true", help="stop after the targets")
    parser.add_argument("--eval-only", type=Path, metavar="CKPT", help="evaluate a checkpoint")
    parser.add_argument(
        "--init",
        type=Path,
        metavar="CKPT",
        help="start from a checkpoint's tensors that match by name and shape (e.g. the stage 1 "
        "of a 1-stage student for a 2-stage one)",
    )
    args = parser.parse_args(argv)

    from emotionaldan_ros.core.checkpoint import save_checkpoint
    from emotionaldan_ros.core.dan_recognizer import DANRecognizer
    from emotionaldan_ros.training import distill

    if not args.config.is_file():
        parser.error(f"config not found: {args.config}")
    cfg = yaml.safe_load(args.config.read_text()) or {}
    targets = _teacher_targets(cfg, args.data_root, args.rebuild_targets)
    report: dict[str, Any] = {"split": _split_summary(targets)}
    print(json.dumps(report["split"], indent=1), flush=True)
    if args.targets_only:
        return 0
    if args.eval_only:
        student = DANRecognizer.from_checkpoint(args.eval_only)
    else:
        tcfg = distill.DistillConfig.from_dict(cfg.get("train"))
        if args.steps:
            tcfg.steps = args.steps
        aug = distill.DistillAugment.from_dict(cfg.get("augment"))
        init = distill.init_from(args.init, tcfg, targets) if args.init else None
        model, history = distill.train(
            targets, tcfg, aug, log=lambda e: print(json.dumps(e), flush=True), model=init
        )
        crop = {"margin": tcfg.margin, "shift": tcfg.shift}
        student = DANRecognizer(model, crop=crop)
        report["history"] = history
    report["test"] = evaluate_all(student, targets)
    report["verdict"] = verdict(report["test"][str(targets["box_sources"][0])])
    if not args.eval_only:
        out = Path(args.output or cfg.get("output", "distilled.safetensors"))
        meta = {
            "trained_by": "emotionaldan-distill (training/distill.py)",
            "teacher": "face-api 1.7.15 face_landmark_68 + face_expression (converted)",
            "split": report["split"],
            "test": report["test"],
            "verdict": report["verdict"],
            "licence": "MIT-derived (teacher weights MIT); see MODEL_CARD.md",
        }
        config = {"train": cfg.get("train"), "augment": cfg.get("augment")}
        save_checkpoint(out, model, config=config, meta=meta, crop=crop)
        report["checkpoint"] = str(out)
    text = json.dumps(report["test"] | {"verdict": report["verdict"]}, indent=1, default=float)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=1, default=_json_default))
    return 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


if __name__ == "__main__":
    sys.exit(main())
