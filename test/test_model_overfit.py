import cv2
import numpy as np
import torch

from emotionaldan_ros.core.alignment import normalize_crops
from emotionaldan_ros.core.mean_shape import load_default_mean_shape
from emotionaldan_ros.core.model import EmotionalDAN, joint_loss


def _synthetic_batch(n: int, seed: int = 0):
    """Faces drawn as dots at randomly moved mean shapes, with random labels."""
    rng = np.random.default_rng(seed)
    mean = load_default_mean_shape().astype(np.float64)
    images, shapes = [], []
    for _ in range(n):
        angle = rng.uniform(-0.2, 0.2)
        scale = rng.uniform(0.85, 1.15)
        shift = rng.uniform(-8, 8, size=2)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = mean.mean(0)
        shape = (mean - centre) @ rot.T + centre + shift
        img = rng.normal(60, 10, size=(112, 112)).clip(0, 255).astype(np.uint8)
        for x, y in shape:
            cv2.circle(img, (round(x), round(y)), 2, 220, -1)
        images.append(img)
        shapes.append(shape)
    x = torch.from_numpy(normalize_crops(np.stack(images).astype(np.float32)))[:, None]
    y = torch.from_numpy(np.stack(shapes).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 7, size=n))
    return x, y, labels


def test_tiny_emotionaldan_overfits_small_batch():
    torch.manual_seed(0)
    x, gt, labels = _synthetic_batch(8)
    model = EmotionalDAN(num_stages=2, width=0.0625, num_classes=7, dropout=0.0)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(30):
        out = model(x)
        loss, parts = joint_loss(out.landmarks, gt, out.logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append((parts["nme"].item(), parts["ce"].item()))
    (nme0, ce0), (nme1, ce1) = history[0], history[-1]
    assert np.isfinite(history).all()
    assert nme1 < 0.35 * nme0, history[::10]
    assert ce1 < 0.2 * ce0, history[::10]
    # Both stages produce landmarks; the refined last stage is the one trained.
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert len(out.landmarks) == 2 and out.logits.shape == (8, 7)
