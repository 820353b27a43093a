"""Keypoints → similarity crop transforms: eyes land on their targets, heads turn upright."""

import cv2
import numpy as np
import pytest

from emotionaldan_ros.core.alignment import crop_faces, to_crop, to_image
from emotionaldan_ros.core.detection.keypoints import keypoint_crop_transforms, mean_shape_eyes
from emotionaldan_ros.core.mean_shape import load_default_mean_shape

TARGETS = np.array([[40.0, 50.0], [72.0, 50.0]])


def faces(*eye_pairs):
    kp = np.full((len(eye_pairs), 6, 2), np.nan, np.float32)
    kp[:, :2] = eye_pairs
    return kp


def test_eyes_land_on_the_targets_for_any_tilt_and_size():
    kp = faces([[100, 200], [140, 200]], [[300, 100], [300 + 30, 100 + 30]], [[10, 20], [12, 20]])
    mats = keypoint_crop_transforms(kp, TARGETS)
    assert mats.shape == (3, 2, 3) and mats.dtype == np.float32
    np.testing.assert_allclose(to_crop(kp[:, :2], mats), np.repeat(TARGETS[None], 3, 0), atol=1e-3)
    # Uniform scale (a similarity: no shear), target eye distance / image eye distance.
    lin = mats[:, :, :2].astype(np.float64)
    scales = np.sqrt(np.abs(np.linalg.det(lin)))
    np.testing.assert_allclose(scales, [32 / 40, 32 / np.hypot(30, 30), 32 / 2], rtol=1e-5)
    np.testing.assert_allclose(lin[:, 0, 0], lin[:, 1, 1], atol=1e-6)
    np.testing.assert_allclose(lin[:, 0, 1], -lin[:, 1, 0], atol=1e-6)
    # Back to the image: the inverse maps the targets onto the detected eyes.
    back = to_image(np.repeat(TARGETS[None], 3, 0), mats)
    np.testing.assert_allclose(back, kp[:, :2], atol=1e-2)


def test_without_rotation_the_crop_stays_axis_aligned():
    kp = faces([[300, 100], [330, 130]])
    mats = keypoint_crop_transforms(kp, TARGETS, rotate=False)
    assert mats[0, 0, 1] == 0 and mats[0, 1, 0] == 0
    mid = to_crop(kp[:, :2].mean(axis=1, keepdims=True), mats)[0, 0]
    np.testing.assert_allclose(mid, TARGETS.mean(axis=0), atol=1e-3)


def test_default_targets_are_the_mean_shape_eyes():
    eyes = mean_shape_eyes()
    shape = load_default_mean_shape()
    np.testing.assert_allclose(eyes[0], shape[36:42].mean(axis=0))
    assert eyes[0, 0] < eyes[1, 0]  # iBUG 36–41: the subject's right eye, the image's left
    kp = faces([[100, 200], [150, 210]])
    np.testing.assert_allclose(
        to_crop(kp[:, :2], keypoint_crop_transforms(kp, size=224))[0], eyes * 2, atol=1e-3
    )


def test_crop_of_a_tilted_face_is_upright():
    # Two dark "eyes" on a tilted line; after the crop they sit on one row, at the targets.
    image = np.full((200, 200), 200, np.uint8)
    eyes = np.array([[70.0, 80.0], [130.0, 110.0]])
    for x, y in eyes:
        cv2.circle(image, (int(x), int(y)), 4, 0, -1)
    crop = crop_faces(image, keypoint_crop_transforms(faces(eyes), TARGETS))[0]
    for x, y in TARGETS:
        assert crop[int(y), int(x)] < 60, (x, y)
    assert crop[50, 56] > 150  # between the eyes: skin, not an eye


@pytest.mark.parametrize(
    ("kp", "message"),
    [
        (np.zeros((2, 2)), r"\(N, K >= 2, 2\)"),
        (faces([[np.nan, 1], [3, 4]]), r"rows \[0\]"),
        (faces([[5, 5], [5, 5]], [[0, 0], [9, 0]]), r"rows \[0\]"),
    ],
)
def test_bad_keypoints_are_named(kp, message):
    with pytest.raises(ValueError, match=message):
        keypoint_crop_transforms(kp, TARGETS)
