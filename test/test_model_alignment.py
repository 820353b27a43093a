import cv2
import numpy as np
import pytest

from emotionaldan_ros.core.alignment import (
    DEFAULT_MARGIN,
    DEFAULT_SHIFT,
    MEAN_SHAPE_FRAME,
    crop_faces,
    crop_transforms,
    degenerate_rows,
    invert_transforms,
    normalize_crops,
    to_crop,
    to_gray,
    to_image,
)


def _image(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    return cv2.GaussianBlur(img, (7, 7), 2)


def test_transform_geometry_centre_and_side():
    boxes = np.array([[10.0, 20.0, 90.0, 80.0]])  # w 80, h 60: side is max(w, h)
    M = crop_transforms(boxes, size=112, margin=0.25, shift=0.0)
    side = 80 * 1.5
    assert M[0, 0, 0] == pytest.approx(112 / side) and M[0, 1, 1] == pytest.approx(112 / side)
    assert M[0, 0, 1] == 0 and M[0, 1, 0] == 0
    # Box centre → crop centre; the crop's outer edges ↔ centre ± side / 2.
    c = to_crop(np.array([[[50.0, 50.0], [50 - side / 2, 50 + side / 2]]]), M)[0]
    np.testing.assert_allclose(c[0], [55.5, 55.5], atol=1e-4)
    np.testing.assert_allclose(c[1], [-0.5, 111.5], atol=1e-4)


def test_shift_moves_crop_down():
    boxes = np.array([[0.0, 0.0, 100.0, 100.0]])
    M = crop_transforms(boxes, margin=DEFAULT_MARGIN, shift=DEFAULT_SHIFT)
    centre = to_image(np.array([[[55.5, 55.5]]]), M)[0, 0]
    np.testing.assert_allclose(centre, [50.0, 50.0 + DEFAULT_SHIFT * 100], atol=1e-3)


def test_round_trip_points():
    rng = np.random.default_rng(1)
    xy = rng.random((5, 2)) * 300
    boxes = np.concatenate([xy, xy + 5 + rng.random((5, 2)) * 200], axis=1)
    M = crop_transforms(boxes)
    pts = rng.random((5, 68, 2)) * 400 - 50
    np.testing.assert_allclose(to_image(to_crop(pts, M), M), pts, atol=1e-3)
    inv = invert_transforms(M)
    np.testing.assert_allclose(invert_transforms(inv), M, rtol=1e-6, atol=1e-6)


def test_crop_matches_cv2_warp_affine():
    img = _image()
    boxes = np.array([[10, 20, 90, 100], [100, -30, 200, 60]], dtype=np.float32)
    M = crop_transforms(boxes)
    crops = crop_faces(img, M)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    for i in range(len(boxes)):
        ref = cv2.warpAffine(gray, M[i], (112, 112), flags=cv2.INTER_LINEAR)
        # OpenCV interpolates in fixed point; <1 grey level of difference.
        assert np.abs(ref - crops[i]).max() < 1.0


def test_crop_content_identity_box():
    gray = (np.arange(112 * 112) % 251).astype(np.uint8).reshape(112, 112)
    # A box whose crop is exactly the image: side 112, no margin, no shift.
    M = crop_transforms(np.array([[-0.5, -0.5, 111.5, 111.5]]), margin=0.0, shift=0.0)
    # float32 grid maths: ~1e-5 px of error × up to 250 grey levels between neighbours.
    np.testing.assert_allclose(crop_faces(gray, M)[0], gray.astype(np.float32), atol=0.02)


def test_landmark_follows_pixel():
    gray = np.zeros((200, 300), np.uint8)
    gray[120, 170] = 255  # (x=170, y=120)
    M = crop_transforms(np.array([[149.5, 99.5, 177.5, 127.5]]), size=28, margin=0.0, shift=0.0)
    crop = crop_faces(gray, M, size=28)[0]  # scale 1: one crop pixel per image pixel
    x, y = to_crop(np.array([[[170.0, 120.0]]]), M)[0, 0]
    assert crop.argmax() == int(np.rint(y)) * 28 + int(np.rint(x))


def test_empty_and_outside_boxes():
    img = _image()
    assert crop_faces(img, crop_transforms(np.zeros((0, 4)))).shape == (0, 112, 112)
    assert crop_transforms(np.zeros((0, 4))).shape == (0, 2, 3)
    far = np.array([[-500.0, -500, -400, -400], [150, 110, 400, 300]])
    crops = crop_faces(img, crop_transforms(far))
    assert crops.shape == (2, 112, 112)
    assert np.all(crops[0] == 0)  # fully outside → filled with 0
    assert crops[1].max() > 0 and np.all(crops[1][-10:, -10:] == 0)  # partly outside
    norm = normalize_crops(crops)
    assert np.isfinite(norm).all() and np.all(norm[0] == 0)


def test_gray_input_and_bgr_agree():
    img = _image()
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    M = crop_transforms(np.array([[20.0, 20, 100, 100]]))
    np.testing.assert_allclose(crop_faces(img, M), crop_faces(gray, M), atol=0.6)
    np.testing.assert_allclose(to_gray(img[:, :, :1]), img[:, :, 0].astype(np.float32))


def test_bad_inputs_raise_clear_errors():
    img = _image()
    with pytest.raises(ValueError, match=r"rows \[1\]"):
        crop_transforms(np.array([[0, 0, 10, 10], [5, 5, 5, 20]]))
    assert degenerate_rows(np.array([[0, 0, 10, 10], [5, 5, 4, 20]])).tolist() == [1]
    with pytest.raises(ValueError, match="NaN"):
        crop_transforms(np.array([[0, 0, np.nan, 10]]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        crop_transforms(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="image must be"):
        crop_faces(np.zeros((10, 10, 2), np.uint8), np.zeros((0, 2, 3)))
    with pytest.raises(ValueError, match="empty image"):
        crop_faces(np.zeros((0, 10), np.uint8), np.zeros((0, 2, 3)))
    with pytest.raises(ValueError, match="dtype"):
        crop_faces(np.zeros((10, 10), np.int32), np.zeros((0, 2, 3)))
    with pytest.raises(ValueError, match=r"\(N, 2, 3\)"):
        crop_faces(img, np.zeros((1, 3, 3)))


def test_normalize_crops_stats():
    crops = np.random.default_rng(2).random((3, MEAN_SHAPE_FRAME, MEAN_SHAPE_FRAME)) * 200
    norm = normalize_crops(crops)
    np.testing.assert_allclose(norm.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(norm.std(axis=(1, 2)), 1, atol=1e-4)


def test_window_optimisation_matches_full_image_crop():
    import torch

    from emotionaldan_ros.core.alignment import crop_faces_torch

    img = _image(480, 640, seed=3)
    boxes = np.array([[300.0, 200, 340, 240], [600, 440, 700, 540], [-20, 100, 30, 150]])
    M = crop_transforms(boxes)
    full = crop_faces_torch(torch.from_numpy(to_gray(img)), torch.from_numpy(M), 112).numpy()
    # Same samples up to float32 rounding of the (shifted) coordinates: ~1e-5 px.
    np.testing.assert_allclose(crop_faces(img, M), full, atol=0.02)
