"""`emotionaldan-export`: export a checkpoint to ONNX and/or TorchScript, then check it.

Usage::

    emotionaldan-export model.safetensors --onnx model.onnx --torchscript model.ts.pt

After exporting, both files are run on random crops and compared with the PyTorch model; the
largest differences are printed (and the command fails if they exceed `--tolerance`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from emotionaldan_ros.core.export import (
    DEFAULT_OPSET,
    HEADER_KEY,
    ExportWrapper,
    export_checkpoint,
)
from emotionaldan_ros.core.weights import WeightsError, sha256_file


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        prog="emotionaldan-export",
        description="Export an EmotionalDAN / baseline checkpoint to ONNX and TorchScript.",
    )
    p.add_argument("checkpoint", type=Path, help=".safetensors / .pt checkpoint")
    p.add_argument("--onnx", type=Path, help="ONNX output file")
    p.add_argument("--torchscript", type=Path, help="TorchScript output file")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset (>= 16)")
    p.add_argument(
        "--safetensors",
        type=Path,
        help="also re-write the checkpoint as .safetensors (same header and tensors)",
    )
    p.add_argument(
        "--calibrate-crop",
        metavar="DETECTOR",
        help="with --safetensors: measure and store the crop margin / shift that turn this "
        "detector's boxes into the training crops (training.calibrate)",
    )
    p.add_argument(
        "--calibrate-data",
        metavar="NAME:ROOT",
        help="photos for --calibrate-crop (e.g. legend:/data/facial_expressions?subset=lfw)",
    )
    p.add_argument("--calibrate-limit", type=int, default=500, help="photos to calibrate on")
    p.add_argument("--sha256", help="expected SHA-256 of the checkpoint file")
    p.add_argument("--tolerance", type=float, default=1e-3, help="max allowed abs difference")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch")
    return p


def compare(checkpoint: Path, outputs: dict[str, Path], sha256: str | None) -> dict[str, float]:
    """Max abs difference of each export's outputs against PyTorch on 4 random crops."""
    from emotionaldan_ros.core.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint, sha256)
    wrapper = ExportWrapper(model)
    size = int(getattr(model, "size", 112))
    x = torch.randn(4, 1, size, size)
    with torch.no_grad():
        ref = [t.numpy() for t in wrapper(x)]
    diffs: dict[str, float] = {}
    if "onnx" in outputs:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(outputs["onnx"]), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"input": x.numpy()})
        diffs["onnx"] = max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True))
    if "torchscript" in outputs:
        ts = torch.jit.load(str(outputs["torchscript"]), _extra_files={HEADER_KEY: ""})
        with torch.no_grad():
            got = [t.numpy() for t in ts(x)]
        diffs["torchscript"] = max(
            float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True)
        )
    return diffs


def _calibrated_crop(args: argparse.Namespace) -> dict:
    from emotionaldan_ros.core.data import load_dataset
    from emotionaldan_ros.training.calibrate import calibrate_detector

    if not args.calibrate_data:
        raise ValueError("--calibrate-crop needs --calibrate-data NAME:ROOT")
    found = calibrate_detector(
        args.calibrate_crop, load_dataset(args.calibrate_data).samples, args.calibrate_limit
    )
    return {
        "margin": found["margin"],
        "shift": found["shift"],
        "calibration": found | {"data": args.calibrate_data},
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.onnx is None and args.torchscript is None and args.safetensors is None:
        print("error: give --onnx, --torchscript and/or --safetensors", file=sys.stderr)
        return 2
    if args.safetensors is not None:
        from emotionaldan_ros.core.checkpoint import convert_checkpoint

        try:
            crop = None
            if args.calibrate_crop:
                crop = _calibrated_crop(args)
                print(json.dumps({"crop_calibration": crop}))
            path = convert_checkpoint(args.checkpoint, args.safetensors, crop=crop)
        except (WeightsError, ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{'safetensors':12s} {path}  sha256 {sha256_file(path)}")
        if args.onnx is None and args.torchscript is None:
            return 0
    try:
        outputs = export_checkpoint(
            args.checkpoint, args.onnx, args.torchscript, args.opset, args.sha256
        )
    except (WeightsError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for kind, path in outputs.items():
        print(f"{kind:12s} {path}  sha256 {sha256_file(path)}")
    if args.no_check:
        return 0
    diffs = compare(args.checkpoint, outputs, args.sha256)
    print(json.dumps({"max_abs_diff_vs_pytorch": diffs}))
    if any(d > args.tolerance for d in diffs.values()):
        print(f"error: export differs from PyTorch by more than {args.tolerance}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
