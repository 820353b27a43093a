"""Prepare the inputs of `scripts/faceapi_reference.js` (run once by a developer, never by tests).

Decodes the fixture images of test/data/faceapi/ into raw RGB files (so that the original runtime
and the PyTorch port see exactly the same pixels; no image decoder is needed in Node) and writes a
job file listing them plus a few hand-made face boxes (non-square, fractional, crossing the image
border) that exercise face-api's crop/pad logic.

    python scripts/faceapi_reference_inputs.py /tmp/faceapi-ref/job
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2

DATA = Path(__file__).resolve().parents[1] / "test" / "data" / "faceapi"

# name -> extra boxes [x, y, width, height] in image pixels, in addition to the SSD detections.
EXTRA_BOXES = {
    "sample1_crop": [[380.0, -20.0, 80.0, 140.0]],
    "sample3_crop": [[440.0, 60.0, 90.0, 70.0]],
    "sample6_crop": [[-10.0, 10.0, 100.0, 95.5]],
}


def main(out_dir: str) -> None:
    """Write <name>.rgb files and job.json into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for name, boxes in EXTRA_BOXES.items():
        bgr = cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(DATA / f"{name}.png")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        (out / f"{name}.rgb").write_bytes(rgb.tobytes())
        h, w = rgb.shape[:2]
        images.append(
            {"name": name, "width": w, "height": h, "rgb": f"{name}.rgb", "extra_boxes": boxes}
        )
    (out / "job.json").write_text(json.dumps({"images": images}, indent=1))
    print(f"wrote {len(images)} images to {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
