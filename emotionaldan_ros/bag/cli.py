"""`emotionaldan-bag`: record, play, inspect, build and evaluate rosbag2 bags.

    emotionaldan-bag info BAG
    emotionaldan-bag reindex BAG
    emotionaldan-bag from-dataset SOURCE OUT [--fps 10] [--format auto] [--storage mcap]
    emotionaldan-bag record [-o OUT] [TOPIC ...] [--storage sqlite3] [--duration S]
    emotionaldan-bag play BAG [--rate 2] [--loop] [--topics ...] [--remap OLD:=NEW] [--clock]
    emotionaldan-bag replay-eval BAG [--out DIR] [--offline | --attach | --set k=v ...]

Bad input ends with one `error:` line and exit status 1 (2 for bad options), never a traceback
(`--debug` shows it). Only record, play and online replay-eval need rclpy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from emotionaldan_ros.bag.errors import BagError

PROG = "emotionaldan-bag"


def _size(text: str) -> int:
    """'500M' / '2G' / '1000000' → bytes."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9}
    text = text.strip().lower().removesuffix("b")
    scale = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 500M or 2G") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("size must be > 0")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="topics, types, counts, duration and storage of a bag")
    p.add_argument("bag", type=Path, help="bag folder (with metadata.yaml) or .mcap/.db3 file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_info)


def _add_reindex(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reindex",
        help="salvage a recording that was killed (SIGKILL, power loss) into a complete bag",
        description="Rewrites a storage file that has no end from its complete records (an "
        "MCAP is kept up to its last complete chunk, a database up to its last commit) and "
        "rebuilds metadata.yaml from what the files hold. Works in place.",
    )
    p.add_argument("bag", type=Path, help="bag folder")
    p.set_defaults(func=_cmd_reindex)


def _add_from_dataset(sub: argparse._SubParsersAction) -> None:
    from emotionaldan_ros.bag.from_dataset import FORMATS, IMAGE_TOPIC, LABEL_TOPIC

    p = sub.add_parser(
        "from-dataset",
        help="images / labelled dataset / video → bag with camera images and ground truth",
        description="Write images on the camera topic and EmotionLabel ground truth (same stamps) "
        "on the ground-truth topic. Sources: class folders (ROOT/<class>/*.png), CSV list, CK+ "
        "root, JAFFE folder, plain image folder, video file.",
    )
    p.add_argument("source", type=Path, help="dataset root, CSV file, image folder or video")
    p.add_argument("out", type=Path, help="bag folder to create")
    p.add_argument("--format", default="auto", choices=FORMATS, help="source layout (auto)")
    p.add_argument("--fps", type=_positive, default=None, help="frame rate (video: own; else 10)")
    p.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"))
    p.add_argument("--label", help="class name for every frame of an unlabelled folder/video")
    p.add_argument(
        "--frame-id", default="cabin_camera_optical_frame", help="frame_id of images and labels"
    )
    p.add_argument("--start", type=float, default=None, help="stamp of frame 0 in s (now)")
    p.add_argument("--resize", help="WIDTHxHEIGHT to resize every frame to")
    p.add_argument(
        "--encoding",
        default="bgr8",
        choices=("bgr8", "mono8", "jpeg", "png"),
        help="Image encoding; jpeg / png write CompressedImage on IMAGE_TOPIC/compressed",
    )
    p.add_argument("--classes", type=int, default=7, choices=(7, 8), help="label space")
    p.add_argument("--peak-frames", type=int, default=1, help="CK+: labelled last frames")
    p.add_argument("--every", type=int, default=1, help="video: keep every n-th frame")
    p.add_argument("--image-topic", default=IMAGE_TOPIC)
    p.add_argument("--label-topic", default=LABEL_TOPIC)
    p.add_argument(
        "--allow-outside-root",
        action="store_true",
        help="CSV: also read images outside the CSV's folder (../x.jpg, absolute paths); "
        "by default such rows are skipped and counted",
    )
    p.set_defaults(func=_cmd_from_dataset)


def _add_record(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "record",
        help="record topics to a bag (default: every /cabin/* topic)",
        description="Subscribe to topics as they appear and write their raw messages. Ctrl-C or "
        "SIGTERM closes the bag cleanly.",
    )
    p.add_argument("topics", nargs="*", help="topics or glob patterns (default: /cabin/*)")
    p.add_argument("-o", "--output", type=Path, help="bag folder (default: cabin_<time>)")
    p.add_argument("-a", "--all", action="store_true", help="record every topic")
    p.add_argument("--exclude", nargs="*", default=[], help="topics or patterns to skip")
    p.add_argument("--storage", default="mcap", choices=("mcap", "sqlite3"))
    p.add_argument("--split-size", type=_size, default=0, help="new file after SIZE (500M)")
    p.add_argument("--split-duration", type=_positive, default=0.0, help="new file after S s")
    p.add_argument("--duration", type=_positive, default=None, help="stop after S seconds")
    p.add_argument("--max-messages", type=int, default=0, help="stop after N messages")
    p.add_argument("--discovery-period", type=_positive, default=0.1, help="topic scan period s")
    p.set_defaults(func=_cmd_record)


def _add_play(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("play", help="publish a bag's messages with their original timing")
    p.add_argument("bag", type=Path)
    p.add_argument("-r", "--rate", type=_positive, default=1.0, help="speed factor (1.0)")
    p.add_argument("-l", "--loop", action="store_true", help="play again and again")
    p.add_argument("--start-offset", type=float, default=0.0, help="skip the first S seconds")
    p.add_argument("--topics", nargs="*", help="only these topics")
    p.add_argument(
        "--remap", nargs="*", default=[], metavar="OLD:=NEW", help="rename topics on output"
    )
    p.add_argument("--clock", action="store_true", help="publish bag time on /clock")
    p.add_argument(
        "--wait-subscribers",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S s for every topic to have a subscriber before starting",
    )
    p.set_defaults(func=_cmd_play)


def _add_replay_eval(sub: argparse._SubParsersAction) -> None:
    from emotionaldan_ros.bag.from_dataset import IMAGE_TOPIC, LABEL_TOPIC

    p = sub.add_parser(
        "replay-eval",
        help="play a labelled bag through the cabin graph and score /cabin/emotion",
        description="Starts `emotionaldan-cabin --no-camera` (or attaches to a running graph), "
        "plays the bag's images, collects /cabin/emotion, matches it to frames by stamp and "
        "writes report.md, report.json and confusion-matrix PNGs. --offline scores a bag that "
        "already holds /cabin/emotion.",
    )
    p.add_argument("bag", type=Path)
    p.add_argument("-o", "--out", type=Path, default=Path("replay_eval"), help="report folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--offline", action="store_true", help="score /cabin/emotion in the bag")
    mode.add_argument("--attach", action="store_true", help="use an already running graph")
    p.add_argument("--config", default=None, help="cabin YAML (default: the packaged one)")
    p.add_argument(
        "--set", action="append", default=[], metavar="NODE.PARAM=VALUE", help="graph override"
    )
    p.add_argument(
        "--backend", help="shortcut for --set emotionaldan.backend=SPEC (the model to evaluate)"
    )
    p.add_argument("--graph-cmd", default=None, help="command that starts the graph instead")
    p.add_argument("-r", "--rate", type=_positive, default=1.0, help="playback speed factor")
    p.add_argument("--startup-timeout", type=_positive, default=60.0, help="graph ready wait s")
    p.add_argument("--settle", type=_positive, default=5.0, help="wait for late outputs s")
    p.add_argument(
        "--surprise",
        default="positive",
        choices=("positive", "negative", "neutral"),
        help="valence of surprise in the 3-class scores (positive)",
    )
    p.add_argument("--image-topic", default=IMAGE_TOPIC, help="frames to play / score")
    p.add_argument(
        "--label-topic",
        default=LABEL_TOPIC,
        help="ground truth: EmotionLabel, or an EmotionArray recorded from an earlier run "
        "(scores agreement with it)",
    )
    p.add_argument("--emotion-topic", default="/cabin/emotion", help="outputs to score")
    p.set_defaults(func=_cmd_replay_eval)


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of all subcommands."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_record,
        _add_play,
        _add_info,
        _add_reindex,
        _add_from_dataset,
        _add_replay_eval,
    ):
        add(sub)
    return parser


def _cmd_info(args: argparse.Namespace) -> int:
    from emotionaldan_ros.bag.info import bag_info, format_info

    info = bag_info(args.bag)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    for warning in info["warnings"] if args.json else []:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_reindex(args: argparse.Namespace) -> int:
    from emotionaldan_ros.bag.reindex import reindex_bag

    print(reindex_bag(args.bag).summary())
    return 0


def _cmd_from_dataset(args: argparse.Namespace) -> int:
    from emotionaldan_ros.bag.from_dataset import convert, parse_size

    result = convert(
        args.source,
        args.out,
        fmt=args.format,
        fps=args.fps or 0.0,
        storage=args.storage,
        label=args.label,
        frame_id=args.frame_id,
        start_ns=None if args.start is None else int(args.start * 1e9),
        resize=parse_size(args.resize),
        encoding=args.encoding,
        num_classes=args.classes,
        peak_frames=args.peak_frames,
        video_every=args.every,
        image_topic=args.image_topic,
        label_topic=args.label_topic,
        allow_outside_root=args.allow_outside_root,
    )
    print(result.summary())
    return 0


def _cmd_record(args: argparse.Namespace) -> int:
    from emotionaldan_ros.bag.record import run_record

    return run_record(args)


def _cmd_play(args: argparse.Namespace) -> int:
    from emotionaldan_ros.bag.play import run_play

    return run_play(args)


def _cmd_replay_eval(args: argparse.Namespace) -> int:
    from emotionaldan_ros.bag.replay_eval import run_replay_eval

    if args.backend:
        args.set.append(f"emotionaldan.backend={args.backend}")
    return run_replay_eval(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BagError as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        if args.debug:
            raise
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # one line for anything unexpected; --debug shows the traceback
        if args.debug:
            raise
        print(f"{PROG} {args.command}: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
