"""`emotionaldan-convert-faceapi`: convert the face-api TF.js nets into this package's weights.

Usage::

    npm pack @vladmandic/face-api@1.7.15   # → vladmandic-face-api-1.7.15.tgz
    emotionaldan-convert-faceapi vladmandic-face-api-1.7.15.tgz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotionaldan_ros.core.faceapi.convert import MANIFESTS, ConversionError, convert_package
from emotionaldan_ros.core.faceapi.pretrained import WEIGHTS_DIR
from emotionaldan_ros.core.weights import sha256_file


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        prog="emotionaldan-convert-faceapi",
        description="Convert @vladmandic/face-api TF.js weights (MIT) into checksummed "
        "safetensors for the 'faceapi' recogniser backend and the faceapi_* face detectors.",
    )
    p.add_argument("source", type=Path, help="npm tarball (.tgz) or unpacked package folder")
    p.add_argument(
        "--out",
        type=Path,
        default=WEIGHTS_DIR,
        help=f"output folder (default: the package's own {WEIGHTS_DIR})",
    )
    p.add_argument(
        "--nets",
        nargs="+",
        choices=sorted(MANIFESTS),
        default=list(MANIFESTS),
        help="nets to convert (default: all)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    try:
        written = convert_package(args.source, args.out, tuple(args.nets))
    except (ConversionError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, path in written.items():
        print(f"{name:24s} {path}  sha256 {sha256_file(path)}")
    print(f"wrote {args.out / 'SHA256SUMS'} and {args.out / 'NOTICE'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
