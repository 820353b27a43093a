import numpy as np
import pytest

from emotionaldan_ros.core.mean_shape import (
    MIRROR_68,
    compute_mean_shape,
    load_default_mean_shape,
    mirror_shapes,
    read_pts,
)


def test_default_mean_shape_is_a_plausible_face_inside_the_crop():
    s0 = load_default_mean_shape()
    assert s0.shape == (68, 2) and s0.dtype == np.float32
    assert s0.min() > 5 and s0.max() < 107  # inside the 112 frame with a border
    # Symmetric (built from faces and their mirror images) and centred horizontally.
    np.testing.assert_allclose(mirror_shapes(s0[None], 112)[0], s0, atol=1e-2)
    # Anatomy: brows above eyes above nose tip above mouth above chin.
    y = s0[:, 1]
    assert y[19] < y[37] < y[30] < y[51] < y[57] < y[8]
    assert s0[36, 0] < s0[45, 0]  # image-left eye first (iBUG order)


def test_mirror_permutation_is_an_involution():
    assert sorted(MIRROR_68.tolist()) == list(range(68))
    np.testing.assert_array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    shapes = np.random.default_rng(0).random((2, 68, 2)) * 100
    np.testing.assert_allclose(mirror_shapes(mirror_shapes(shapes, 112), 112), shapes)


def test_procrustes_mean_of_similar_copies_recovers_the_shape():
    rng = np.random.default_rng(1)
    base = load_default_mean_shape().astype(np.float64)
    c = base.mean(0)
    copies = []
    for angle, scale, shift in ((0.2, 1.1, (3, -2)), (-0.15, 0.9, (-4, 1)), (0.05, 1.0, (1, 1))):
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        copies.append((base - c) @ rot.T + c + shift)
    copies = np.stack(copies)
    mean = compute_mean_shape(copies)
    # Same shape up to a similarity; placed at the copies' average centroid and size.
    np.testing.assert_allclose(mean.mean(0), copies.mean(axis=(0, 1)), atol=1e-4)
    size = np.sqrt(((copies - copies.mean(1, keepdims=True)) ** 2).sum(2).mean(1)).mean()
    assert np.sqrt(((mean - mean.mean(0)) ** 2).sum(1).mean()) == pytest.approx(size, rel=1e-5)
    centred = mean - mean.mean(0)
    ref = (base - c) / np.linalg.norm(base - c) * np.linalg.norm(centred)
    # Equal up to a rotation (the result takes the plain average's orientation, ~2° here).
    a = (centred * ref).sum()
    b = (ref[:, 0] * centred[:, 1] - ref[:, 1] * centred[:, 0]).sum()
    theta = np.arctan2(b, a)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    np.testing.assert_allclose(ref @ rot.T, centred, atol=1e-3)
    assert abs(theta) < 0.1
    noisy = copies + rng.normal(0, 0.5, copies.shape)
    assert np.isfinite(compute_mean_shape(noisy)).all()
    with pytest.raises(ValueError, match="68"):
        compute_mean_shape(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        compute_mean_shape(np.full((1, 68, 2), np.nan))


def test_read_pts_converts_one_based(tmp_path):
    pts = tmp_path / "a.pts"
    body = "\n".join(f"{i + 1}.5 {2 * i + 1}" for i in range(68))
    pts.write_text(f"version: 1\nn_points: 68\n{{\n{body}\n}}\n")
    out = read_pts(pts)
    assert out.shape == (68, 2)
    np.testing.assert_allclose(out[3], [3.5, 6.0])
    (tmp_path / "bad.pts").write_text("version: 1\nnothing here")
    with pytest.raises(ValueError, match=r"bad\.pts"):
        read_pts(tmp_path / "bad.pts")
