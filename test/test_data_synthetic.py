"""The generated (synthetic, not real) face set used by the smoke run and the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.data import load_dataset
from emotionaldan_ros.core.data.sample import read_image
from emotionaldan_ros.core.data.synthetic import load_synthetic, make_face


def test_generation_is_deterministic_and_cached(tmp_path: Path) -> None:
    a = load_synthetic(tmp_path / "a", n_per_class=2, seed=3)
    b = load_synthetic(tmp_path / "b", n_per_class=2, seed=3)
    assert len(a) == 14 and a.class_counts() == {n: 2 for n in L.EMOTIONS_7}
    for sa, sb in zip(a.samples, b.samples, strict=True):
        assert sa.label == sb.label
        np.testing.assert_array_equal(read_image(sa.image), read_image(sb.image))
        np.testing.assert_allclose(sa.landmarks, sb.landmarks, atol=1e-3)  # CSV keeps 3 decimals
    stamp = (tmp_path / "a" / "images" / "00000.png").stat().st_mtime_ns
    again = load_dataset(f"synthetic:{tmp_path / 'a'}?n_per_class=2&seed=3")
    assert (tmp_path / "a" / "images" / "00000.png").stat().st_mtime_ns == stamp  # not redrawn
    assert [s.label for s in again.samples] == [s.label for s in a.samples]
    other = load_synthetic(tmp_path / "a", n_per_class=1, seed=3)  # new parameters: regenerated
    assert len(other) == 7 and len(list((tmp_path / "a" / "images").iterdir())) == 7
    assert "SYNTHETIC" in (tmp_path / "a" / "README.txt").read_text()


def test_expressions_are_drawn_where_the_landmarks_say() -> None:
    rng = np.random.default_rng(0)
    for label in range(7):
        image, pts = make_face(label, rng)
        gray = image[:, :, 0].astype(float)
        assert pts.shape == (68, 2) and ((pts > 0) & (pts < 127)).all()
        # pupils (eye centres) and brows are dark, the cheek between eye and mouth is skin
        cheek = (pts[41] + pts[48]) / 2
        skin = gray[round(cheek[1]), round(cheek[0])]
        for p in (pts[36:42].mean(0), pts[42:48].mean(0), pts[19], pts[24]):
            assert gray[round(p[1]), round(p[0])] < skin - 40
    # open mouths (surprise) vs pressed lips (anger): inner-lip gap in interocular units
    gaps = {}
    for label in (L.SURPRISE, L.ANGER):
        _, pts = make_face(label, np.random.default_rng(1))
        gaps[label] = (pts[66, 1] - pts[62, 1]) / np.linalg.norm(pts[45] - pts[36])
    assert gaps[L.SURPRISE] > 0.2 > abs(gaps[L.ANGER])
