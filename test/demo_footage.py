"""The bundled demo footage as the detector tests read it: faces found per manifest segment."""

from __future__ import annotations

import json
from typing import Any

import cv2

from emotionaldan_ros.core.sources import demo_dir


def face_counts_per_segment(detector: Any) -> list[tuple[dict, list[int]]]:
    """(manifest segment, faces `detector` finds in each of its frames) for every segment."""
    folder = demo_dir()
    manifest = json.loads((folder / "manifest.json").read_text())
    return [
        (
            segment,
            [
                len(detector.detect(cv2.imread(str(folder / f"frame_{index:04d}.jpg"))))
                for index in range(segment["first"], segment["last"] + 1)
            ],
        )
        for segment in manifest["segments"]
    ]
