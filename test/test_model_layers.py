import math

import numpy as np
import pytest
import torch

from emotionaldan_ros.core.model.layers import (
    FeatureImage,
    invert_affine,
    landmark_heatmap,
    pixel_grid,
    similarity_params,
    transform_points,
    warp_image,
)


def _random_similarities(batch: int, gen: torch.Generator) -> torch.Tensor:
    angle = (torch.rand(batch, generator=gen, dtype=torch.float64) - 0.5) * 2 * math.pi
    scale = 0.5 + torch.rand(batch, generator=gen, dtype=torch.float64) * 1.5
    t = (torch.rand(batch, 2, generator=gen, dtype=torch.float64) - 0.5) * 40
    a, b = scale * torch.cos(angle), scale * torch.sin(angle)
    lin = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], 1)
    return torch.cat([lin, t[..., None]], dim=2)


def test_similarity_recovers_known_transforms():
    gen = torch.Generator().manual_seed(0)
    src = torch.rand(5, 68, 2, generator=gen, dtype=torch.float64) * 100
    T = _random_similarities(5, gen)
    dst = transform_points(src, T)
    est = similarity_params(src, dst)
    torch.testing.assert_close(est, T, rtol=0, atol=1e-9)


def test_similarity_is_least_squares_with_noise():
    gen = torch.Generator().manual_seed(1)
    src = torch.rand(3, 68, 2, generator=gen, dtype=torch.float64) * 100
    dst = transform_points(src, _random_similarities(3, gen))
    dst = dst + torch.randn(dst.shape, generator=gen, dtype=torch.float64)
    est = similarity_params(src, dst)
    best = ((transform_points(src, est) - dst) ** 2).sum()
    # Any perturbation of the four similarity parameters raises the squared error.
    for k in range(4):
        for eps in (1e-3, -1e-3):
            pert = est.clone()
            if k == 0:
                pert[:, 0, 0] += eps
                pert[:, 1, 1] += eps
            elif k == 1:
                pert[:, 0, 1] -= eps
                pert[:, 1, 0] += eps
            else:
                pert[:, k - 2, 2] += eps
            assert ((transform_points(src, pert) - dst) ** 2).sum() > best


def test_similarity_against_mean_shape_broadcast():
    gen = torch.Generator().manual_seed(2)
    mean = torch.rand(68, 2, generator=gen, dtype=torch.float64) * 112
    T = _random_similarities(4, gen)
    shapes = transform_points(mean.expand(4, 68, 2), invert_affine(T))
    torch.testing.assert_close(similarity_params(shapes, mean), T, rtol=0, atol=1e-9)


def test_invert_affine_round_trip():
    gen = torch.Generator().manual_seed(3)
    T = torch.randn(6, 2, 3, generator=gen, dtype=torch.float64)
    pts = torch.randn(6, 68, 2, generator=gen, dtype=torch.float64)
    back = transform_points(transform_points(pts, T), invert_affine(T))
    torch.testing.assert_close(back, pts, rtol=0, atol=1e-8)


def test_identity_warp_returns_image():
    img = torch.rand(2, 3, 20, 17, generator=torch.Generator().manual_seed(4))
    eye = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3)
    torch.testing.assert_close(warp_image(img, eye), img, rtol=0, atol=1e-5)


def test_integer_translation_warp_shifts_pixels():
    img = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    T = torch.tensor([[[1.0, 0, 3], [0, 1.0, -2]]])  # input (x, y) lands on (x + 3, y - 2)
    out = warp_image(img, T)
    torch.testing.assert_close(out[0, 0, 0:14, 3:16], img[0, 0, 2:16, 0:13], rtol=0, atol=1e-6)
    assert torch.all(out[0, 0, :, :3] == 0) and torch.all(out[0, 0, 14:, :] == 0)


def test_warp_moves_a_landmark_with_its_points():
    # A bright dot at p must appear at T(p) after warping with T.
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 20, 10] = 1.0  # (x=10, y=20)
    T = torch.tensor([[[0.0, -1.0, 50.0], [1.0, 0.0, 5.0]]])  # 90° rotation + shift
    out = warp_image(img, T)
    x, y = transform_points(torch.tensor([[[10.0, 20.0]]]), T)[0, 0].round().long().tolist()
    assert out[0, 0].argmax().item() == y * 64 + x
    assert out[0, 0, y, x].item() == pytest.approx(1.0, abs=1e-5)


def test_heatmap_values_at_and_away_from_landmarks():
    pts = torch.tensor([[[10.0, 20.0], [40.0, 5.0]]])
    H = landmark_heatmap(pts, 32, 48)
    assert H.shape == (1, 1, 32, 48)
    assert H[0, 0, 20, 10].item() == pytest.approx(1.0, abs=1e-5)
    assert H[0, 0, 5, 40].item() == pytest.approx(1.0, abs=1e-5)
    # (x=13, y=24) is 5 px from the first point and farther from the second.
    assert H[0, 0, 24, 13].item() == pytest.approx(1 / 6, abs=1e-5)
    # Brute-force reference everywhere.
    g = pixel_grid(32, 48)
    d = torch.cdist(g.reshape(-1, 2), pts[0]).min(dim=1).values.reshape(32, 48)
    torch.testing.assert_close(H[0, 0], 1 / (1 + d), rtol=0, atol=1e-5)
    assert H.max() <= 1.0 and H.min() > 0.0


def test_feature_image_shape_and_blocks():
    fi = FeatureImage(256, 112)
    out = fi(torch.randn(3, 256))
    assert out.shape == (3, 1, 112, 112)
    # Nearest 2x upsampling: each 2x2 block is constant.
    assert torch.equal(out[:, :, ::2, ::2], out[:, :, 1::2, 1::2])
    with pytest.raises(ValueError, match="even"):
        FeatureImage(256, 111)


def test_gradcheck_through_connection_layers():
    gen = torch.Generator().manual_seed(6)
    size = 8
    mean = (torch.rand(5, 2, generator=gen, dtype=torch.float64) * 5 + 1.0).requires_grad_(False)
    prev = (mean + 0.3 * torch.randn(2, 5, 2, generator=gen, dtype=torch.float64)).requires_grad_()
    img = torch.rand(2, 1, size, size, generator=gen, dtype=torch.float64).requires_grad_()
    delta = (0.2 * torch.randn(2, 5, 2, generator=gen, dtype=torch.float64)).requires_grad_()

    def connection(prev, img, delta):
        T = similarity_params(prev, mean)
        warped = warp_image(img, T)
        moved = transform_points(prev, T)
        heat = landmark_heatmap(moved, size, size)
        out = transform_points(moved + delta, invert_affine(T))
        return warped, heat, out

    assert torch.autograd.gradcheck(connection, (prev, img, delta), eps=1e-6, atol=1e-5)


def test_layers_in_float32_match_numpy_similarity():
    rng = np.random.default_rng(7)
    src = rng.random((2, 68, 2)) * 100
    dst = rng.random((68, 2)) * 100
    T = similarity_params(torch.tensor(src, dtype=torch.float32), torch.tensor(dst).float())
    # Independent solve: linear least squares on [x, -y, 1, 0; y, x, 0, 1] [a b tx ty].
    for k in range(2):
        A = np.zeros((136, 4))
        A[0::2] = np.stack([src[k, :, 0], -src[k, :, 1], np.ones(68), np.zeros(68)], 1)
        A[1::2] = np.stack([src[k, :, 1], src[k, :, 0], np.zeros(68), np.ones(68)], 1)
        a, b, tx, ty = np.linalg.lstsq(A, dst.reshape(-1), rcond=None)[0]
        np.testing.assert_allclose(T[k].numpy(), [[a, -b, tx], [b, a, ty]], rtol=1e-4, atol=1e-3)
