"""The "faceapi" recogniser backend: converted face-api landmark + expression nets.

Per face box, exactly as face-api does for a detection: clip the box to the image and floor it,
pad the crop with black to a centred square, resize it to 112×112 (TF.js bilinear), subtract the
mean RGB and divide by 255. Both nets run on the same batch; landmarks are mapped back to image
pixels and the 7 expression probabilities are re-ordered onto DESIGN §2.

Two engines: "onnxruntime" (default; OpenCV crops written straight into one uint8 batch, nets in
ONNX Runtime sessions, `ort.py`) and "torch" (the PyTorch ports with the float gather crops of
`image.crop_square_resize`, bit-for-bit the reference path). They agree to ~0.05 px and ~1e-3 in
probability (test_faceapi_ort.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from emotionaldan_ros.core.faceapi.image import (
    FACE_MEAN_RGB,
    crop_square_resize,
    image_view,
    normalize,
    warp_regions,
)
from emotionaldan_ros.core.faceapi.nets import FACEAPI_EXPRESSIONS
from emotionaldan_ros.core.faceapi.ort import DEFAULT_ENGINE, OrtNet, check_engine
from emotionaldan_ros.core.faceapi.pretrained import load_net
from emotionaldan_ros.core.labels import EMOTIONS_7, to_valence_probs, valence_map
from emotionaldan_ros.core.recognizer import Prediction

LANDMARK_MODELS = ("face_landmark_68", "face_landmark_68_tiny")
EXPRESSION_CROPS = ("landmarks", "box")
FACE_INPUT_SIZE = 112

# DESIGN §2 class → face-api expression name.
_DESIGN_TO_FACEAPI = {
    "neutral": "neutral",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "fear": "fearful",
    "disgust": "disgusted",
    "anger": "angry",
}
# Column of the face-api output for each DESIGN §2 class: probs_design = probs_faceapi[:, this].
FACEAPI_TO_DESIGN = tuple(FACEAPI_EXPRESSIONS.index(_DESIGN_TO_FACEAPI[c]) for c in EMOTIONS_7)

# One net on a set of (N, 4) x, y, w, h face regions of the current image → its (N, K) outputs.
# Numpy in and out: tiny torch ops cost milliseconds each next to ONNX Runtime's thread pool.
_RunOn = Callable[[np.ndarray], np.ndarray]


def face_regions(boxes: np.ndarray, width: int, height: int) -> torch.Tensor:
    """face-api's crop of each box as a tensor (see `face_regions_np`)."""
    return torch.from_numpy(face_regions_np(boxes, width, height))


def face_regions_np(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """face-api's crop of each box: clipped at the image borders, then floored.

    Args:
        boxes: (N, 4) x1, y1, x2, y2 in image pixels.
        width: image width.
        height: image height.

    Returns:
        (N, 4) int64 x, y, width, height.

    Raises:
        ValueError: a box is malformed, not finite or has no area inside the image.
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"face boxes must be finite, got rows {np.where(~np.isfinite(b))[0]}")
    x = np.maximum(b[:, 0], 0.0)
    y = np.maximum(b[:, 1], 0.0)
    w = np.minimum(b[:, 2] - x, width - x)
    h = np.minimum(b[:, 3] - y, height - y)
    regions = np.floor(np.stack([x, y, w, h], axis=1))
    bad = np.where((regions[:, 2] < 1) | (regions[:, 3] < 1))[0]
    if bad.size:
        raise ValueError(
            f"face box(es) {bad.tolist()} have no area inside the {width}x{height} image: "
            f"{b[bad].tolist()}"
        )
    return regions.astype(np.int64)


def aligned_boxes(landmarks: np.ndarray, padding: float = 0.2) -> np.ndarray:
    """face-api's `alignedRect`: the landmarks' bounding box grown by `padding` of its size.

    Args:
        landmarks: (N, 68, 2) image pixels.
        padding: total growth per axis as a fraction of the box size (face-api: 0.2).

    Returns:
        (N, 4) float64 x1, y1, x2, y2.
    """
    pts = np.asarray(landmarks, np.float64)
    lo = pts.min(axis=1)
    hi = np.maximum(pts.max(axis=1), 0.0)  # face-api's minBbox starts its max at 0
    grow = (hi - lo) * padding
    start = lo - grow / 2
    return np.concatenate([start, start + (hi - lo) + grow], axis=1)


def landmarks_to_image(
    relative: np.ndarray | torch.Tensor, regions: np.ndarray | torch.Tensor
) -> np.ndarray:
    """Map landmark-net outputs (N, 136), relative to the padded 112 square, to image pixels.

    Returns:
        (N, 68, 2) float64.
    """
    out = np.asarray(relative, np.float64).reshape(-1, 68, 2) * FACE_INPUT_SIZE
    regions = np.asarray(regions, np.float64)
    wh = regions[:, 2:]
    scaled = wh * (FACE_INPUT_SIZE / wh.max(axis=1, keepdims=True))  # crop size in the 112 box
    pad = np.maximum(scaled[:, ::-1] - scaled, 0.0) / 2
    rel = (out - pad[:, None, :]) / scaled[:, None, :]
    return rel * wh[:, None, :] + regions[:, None, :2]


class FaceApiRecognizer:
    """Landmarks + 7 expressions from the converted face-api nets (implements `Recognizer`).

    Args:
        device: torch device for the nets ("cpu", "cuda", ...).
        landmark_model: "face_landmark_68" (default) or "face_landmark_68_tiny".
        surprise_valence: valence of "surprise" ("positive", "negative" or "neutral").
        expression_crop: "landmarks" (default; face-api's chained
            `withFaceLandmarks().withFaceExpressions()`: the expression net sees the landmarks'
            bounding box grown by 20 %, so it does not depend on the detector's box style) or
            "box" (the expression net sees the given box, like the landmark net).
        weights_dir: folder with the converted weights (default: the shipped ones).
        engine: "onnxruntime" (default) or "torch" (`device` applies to torch only).
        threads: ONNX Runtime intra-op threads per net (torch: `torch.set_num_threads`).

    Raises:
        ValueError: unknown landmark model, expression crop, surprise valence or engine.
        WeightsError: a weight file is missing or fails its checksum.
    """

    name = "faceapi"
    classes = EMOTIONS_7

    def __init__(
        self,
        device: str = "cpu",
        landmark_model: str = "face_landmark_68",
        surprise_valence: str = "positive",
        expression_crop: str = "landmarks",
        weights_dir: str | None = None,
        engine: str = DEFAULT_ENGINE,
        threads: int = 1,
    ) -> None:
        self.engine = check_engine(engine)
        if landmark_model not in LANDMARK_MODELS:
            raise ValueError(
                f"landmark_model must be one of {LANDMARK_MODELS}, got {landmark_model!r}"
            )
        if expression_crop not in EXPRESSION_CROPS:
            raise ValueError(
                f"expression_crop must be one of {EXPRESSION_CROPS}, got {expression_crop!r}"
            )
        self.valence_map = valence_map(EMOTIONS_7, surprise_valence)
        self.surprise_valence = surprise_valence
        self.expression_crop = expression_crop
        self.device = torch.device(device)
        self.landmark_model = landmark_model
        if self.engine == "torch":
            self.landmark_net = load_net(landmark_model, device, weights_dir)
            self.expression_net = load_net("face_expression", device, weights_dir)
        else:
            size = FACE_INPUT_SIZE
            self.landmark_net = OrtNet(landmark_model, size, threads, weights_dir)
            self.expression_net = OrtNet("face_expression", size, threads, weights_dir)

    def _batch(self, image: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
        """Normalised (N, 3, 112, 112) RGB net input for (N, 4) x, y, w, h regions of BGR."""
        crops = crop_square_resize(
            image, regions, FACE_INPUT_SIZE, centered=True, reverse_channels=True
        )
        return normalize(crops, FACE_MEAN_RGB, 255.0).to(self.device)

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Prediction:
        """Run both nets on all faces of one BGR/gray uint8 image (see `Recognizer.predict`).

        Raises:
            ValueError: bad image, or a box that is malformed, not finite or outside the image.
        """
        img = image_view(image)  # validates; BGR (or gray), not copied
        boxes64 = np.asarray(boxes, dtype=np.float64)
        if boxes64.size == 0:
            boxes64 = boxes64.reshape(0, 4)
        if boxes64.ndim != 2 or boxes64.shape[1] != 4:
            raise ValueError(f"boxes must have shape (N, 4), got {boxes64.shape}")
        n = boxes64.shape[0]
        if n == 0:
            return Prediction(
                boxes=np.zeros((0, 4), np.float32),
                landmarks=np.zeros((0, 68, 2), np.float32),
                probs=np.zeros((0, len(self.classes)), np.float32),
                valence=np.zeros((0, 3), np.float32),
                classes=self.classes,
            )
        height, width = int(img.shape[0]), int(img.shape[1])
        regions = face_regions_np(boxes64, width, height)
        if self.engine == "torch":
            run_landmarks, run_expressions = self._torch_nets(img)
        else:
            run_landmarks, run_expressions = self._ort_nets(image)
        landmarks = landmarks_to_image(run_landmarks(regions), regions)
        if self.expression_crop == "landmarks":
            # face-api places the landmarks it aligns on at the unfloored box origin, i.e.
            # shifted by the fraction that the crop floored away; doing the same makes the
            # expression crop identical to face-api's `alignedRect`. (It also shifts by a
            # negative origin for boxes crossing the left/top border; that is not copied.)
            frac = np.maximum(boxes64[:, :2], 0.0) - regions[:, :2]
            aligned = aligned_boxes(landmarks + frac[:, None, :])
            # A landmark box is never outside the image in practice; fall back to the
            # detector box rather than fail if it is.
            ok = _has_area(aligned, width, height)
            aligned[~ok] = boxes64[~ok]
            regions = face_regions_np(aligned, width, height)
        logits = run_expressions(regions).astype(np.float64)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = (z / z.sum(axis=1, keepdims=True))[:, list(FACEAPI_TO_DESIGN)].astype(np.float32)
        return Prediction(
            boxes=boxes64.astype(np.float32),
            landmarks=landmarks.astype(np.float32),
            probs=probs,
            valence=to_valence_probs(probs, self.valence_map),
            classes=self.classes,
        )

    def _torch_nets(self, img: torch.Tensor) -> tuple[_RunOn, _RunOn]:
        """Both nets on the PyTorch engine: regions → raw outputs (float gather crops)."""

        def run(net: torch.nn.Module) -> _RunOn:
            def on(regions: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return net(self._batch(img, torch.from_numpy(regions))).cpu().numpy()

            return on

        return run(self.landmark_net), run(self.expression_net)

    def _ort_nets(self, image: np.ndarray) -> tuple[_RunOn, _RunOn]:
        """Both nets on ONNX Runtime: regions → raw outputs (OpenCV crops, one uint8 batch)."""
        bgr = np.asarray(image)
        if bgr.ndim == 3 and bgr.shape[2] == 1:
            bgr = bgr[:, :, 0]
        if bgr.ndim == 2:  # gray: the nets want 3 channels (rare path, one copy)
            bgr = np.repeat(bgr[:, :, None], 3, axis=2)

        def run(net: OrtNet) -> _RunOn:
            def on(regions: np.ndarray) -> np.ndarray:
                batch = warp_regions(bgr, regions, FACE_INPUT_SIZE, centered=True)
                return net(batch)[0]

            return on

        return run(self.landmark_net), run(self.expression_net)


def _has_area(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) whether each finite x1, y1, x2, y2 box keeps ≥ 1 px per side after face-api's clip."""
    x, y = np.maximum(boxes[:, 0], 0), np.maximum(boxes[:, 1], 0)
    w = np.floor(np.minimum(boxes[:, 2] - x, width - x))
    h = np.floor(np.minimum(boxes[:, 3] - y, height - y))
    return np.isfinite(boxes).all(axis=1) & (w >= 1) & (h >= 1)
