"""Crop calibration: the crop margin / shift that turn a detector's boxes into training crops.

A cached model is trained on crops placed from each face's landmarks
(`core.data.dataset.box_from_landmarks`, a Haar-style box, with `core.alignment`'s default margin
and shift). At run time the crop comes from a detector box (or a track carrying that detector's
box style), which is placed and sized differently. On real photos, this measures the box the
training crop would use relative to the detector's box — centre offset and scale, medians over
faces — and converts it into the margin / shift of `alignment.crop_transforms` for that
detector, so that the checkpoint's recogniser cuts the crops it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.data.sample import FaceSample, read_image


def _centre_side(box: np.ndarray) -> tuple[np.ndarray, float]:
    box = np.asarray(box, np.float64)
    return (box[:2] + box[2:]) / 2.0, float(np.max(box[2:] - box[:2]))


def crop_for_boxes(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    margin: float = alignment.DEFAULT_MARGIN,
    shift: float = alignment.DEFAULT_SHIFT,
) -> dict[str, Any]:
    """Margin / shift for detector boxes, from (detector box, training box) pairs.

    With s_d, c_d the detector box's side and centre and s_t = k·s_d, c_t = c_d + o·s_d the
    training box's, the training crop (side (1 + 2·margin)·s_t, centre c_t + shift·s_t in y) is
    the detector box's crop with margin (k·(1 + 2·margin) - 1) / 2 and shift o_y + shift·k.

    Returns:
        {"margin", "shift", "faces", "scale", "offset_x", "offset_y", "scale_iqr"} (medians).

    Raises:
        ValueError: no pair.
    """
    if not pairs:
        raise ValueError("crop calibration needs at least one face")
    ks, ox, oy = [], [], []
    for det, train in pairs:
        cd, sd = _centre_side(det)
        ct, st = _centre_side(train)
        ks.append(st / sd)
        ox.append((ct[0] - cd[0]) / sd)
        oy.append((ct[1] - cd[1]) / sd)
    k, x, y = float(np.median(ks)), float(np.median(ox)), float(np.median(oy))
    q1, q3 = np.percentile(ks, [25, 75])
    return {
        "margin": round((k * (1 + 2 * margin) - 1) / 2, 4),
        "shift": round(y + shift * k, 4),
        "faces": len(pairs),
        "scale": round(k, 4),
        "offset_x": round(x, 4),
        "offset_y": round(y, 4),
        "scale_iqr": round(float(q3 - q1), 4),
    }


def calibrate_detector(
    detector_name: str, samples: Sequence[FaceSample], limit: int = 500
) -> dict[str, Any]:
    """Measure `crop_for_boxes` for a detector on up to `limit` photos of `samples`.

    Per photo: the detector's largest face, the face-api landmarks found from it (two passes,
    as the cache builder does), and the training box those landmarks give.
    """
    from emotionaldan_ros.core.data.dataset import box_from_landmarks
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.core.mean_shape import load_default_mean_shape
    from emotionaldan_ros.training.cache import LandmarkFinder

    detector = create_detector(detector_name)
    finder = LandmarkFinder(())
    mean = load_default_mean_shape()
    pairs, missed = [], 0
    for s in list(samples)[:limit]:
        image = read_image(s.image)
        found = detector.detect(image)
        if not len(found):
            missed += 1
            continue
        areas = np.prod(found.boxes[:, 2:] - found.boxes[:, :2], axis=1)
        box = found.boxes[int(np.argmax(areas))].astype(np.float64)
        landmarks, err = finder.best_of(image, box[None])
        if not np.isfinite(err) or err > 0.12:
            continue
        pairs.append((box, box_from_landmarks(landmarks, mean)))
    out = crop_for_boxes(pairs)
    out.update(detector=detector_name, photos=min(limit, len(samples)), no_face=missed)
    return out
