"""Distillation (training/distill.py, cli/distill.py): hand-made metric cases, a tiny real run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from emotionaldan_ros.cli.distill import verdict
from emotionaldan_ros.core.recognizer import Prediction
from emotionaldan_ros.training import distill

FIXTURES = Path(__file__).parent / "data" / "detection"


def _face(x0: float, y0: float, iod: float) -> np.ndarray:
    """(68, 2) points whose outer eye corners (36, 45) are `iod` apart."""
    pts = np.stack([np.linspace(0, iod, 68) + x0, np.full(68, float(y0))], axis=1)
    pts[36], pts[45] = [x0, y0], [x0 + iod, y0]
    return pts.astype(np.float32)


def test_distill_agreement_metrics_hand_made() -> None:
    teacher = np.eye(7, dtype=np.float32)[[1, 1, 0, 3]]
    student = np.eye(7, dtype=np.float32)[[1, 2, 0, 3]]  # one of four disagrees
    t_lm = np.stack([_face(10 * i, 0, 20.0) for i in range(4)])
    s_lm = t_lm + np.array([3.0, 4.0], np.float32)  # 5 px off everywhere → NME 5 / 20
    m = distill.agreement_metrics(student, teacher, s_lm, t_lm)
    assert m["faces"] == 4
    assert m["top1_agreement"] == pytest.approx(0.75)
    assert m["nme_vs_teacher"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="non-empty"):
        distill.agreement_metrics(student[:0], teacher[:0], s_lm[:0], t_lm[:0])


class _Shifted:
    """Fake student: the teacher's answer, landmarks moved by `offset`, one class changed."""

    def __init__(self, targets: dict, offset: float) -> None:
        self.t, self.offset = targets, offset

    def predict(self, image: np.ndarray, boxes: np.ndarray) -> Prediction:
        idx = [int(np.flatnonzero((self.t["boxes"] == b).all(axis=1))[0]) for b in boxes]
        probs = self.t["probs"][idx].copy()
        probs[np.array(idx) == 0] = np.eye(7, dtype=np.float32)[6]  # face 0: anger
        lms = self.t["landmarks"][idx] + self.offset
        return Prediction(boxes, lms, probs, np.zeros((len(idx), 3), np.float32), ())


def _targets(tmp_path: Path) -> dict[str, np.ndarray]:
    image = np.zeros((60, 80, 3), np.uint8)
    path = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(path), image)
    lms = np.stack([_face(5, 20, 10.0), _face(40, 20, 20.0)])
    gt = lms.copy()
    gt[1] += [0.0, 2.0]  # teacher 2 px off the ground truth on face 1
    gt[0] = np.nan
    boxes = np.array([[0, 10, 20, 30], [35, 5, 65, 40]], np.float32)
    return {
        "paths": np.array([str(path)]),
        "split": np.array(["test"]),
        "face_photo": np.array([0, 0]),
        "boxes": boxes,
        "alt_boxes": np.stack([boxes, np.full_like(boxes, np.nan)], axis=1),
        "landmarks": lms,
        "probs": np.eye(7, dtype=np.float32)[[1, 1]],
        "probs_sym": np.eye(7, dtype=np.float32)[[1, 1]],
        "gt": gt,
        "box_sources": np.array(["faceapi_ssd", "haar"]),
    }


def test_distill_evaluate_hand_made(tmp_path: Path) -> None:
    t = _targets(tmp_path)
    faces = distill.faces_of(t, "test")
    m = distill.evaluate(_Shifted(t, 1.0), t, faces)
    assert m["faces"] == 2 and m["skipped"] == 0
    assert m["top1_agreement"] == pytest.approx(0.5)
    # (1, 1) px on every point: NME sqrt(2)/10 on face 0, sqrt(2)/20 on face 1.
    assert m["nme_vs_teacher"] == pytest.approx(np.sqrt(2) * (0.1 + 0.05) / 2, rel=1e-5)
    assert m["gt_faces"] == 1
    assert m["teacher_nme_vs_gt"] == pytest.approx(2.0 / 20, rel=1e-5)
    # Student point = teacher + (1, 1); gt = teacher + (0, 2): distance sqrt(2).
    assert m["student_nme_vs_gt"] == pytest.approx(np.sqrt(2) / 20, rel=1e-5)
    haar = distill.evaluate(_Shifted(t, 0.0), t, faces, box_source="haar")
    assert haar == {"box_source": "haar", "skipped": 2, "faces": 0}
    with pytest.raises(ValueError, match="box_source"):
        distill.evaluate(_Shifted(t, 0.0), t, faces, box_source="nope")


def test_distill_verdict_bars() -> None:
    good = {"top1_agreement": 0.92, "student_nme_vs_gt": 0.09, "teacher_nme_vs_gt": 0.07}
    assert verdict(good)["ship_as"] == "default"
    assert verdict(good | {"top1_agreement": 0.85})["ship_as"] == "experimental"
    assert verdict(good | {"student_nme_vs_gt": 0.11})["ship_as"] == "experimental"
    assert verdict({"top1_agreement": 1.0})["ship_as"] == "experimental"  # NME not measured


def test_distill_loss_zero_at_teacher_and_positive_elsewhere() -> None:
    probs = torch.softmax(torch.randn(3, 7), dim=1)
    lm = torch.from_numpy(np.stack([_face(0, 0, 30.0)] * 3))
    loss, _ = distill.distill_loss([lm, lm], torch.log(probs), lm, probs, temperature=2.0)
    assert float(loss) == pytest.approx(0.0, abs=1e-5)
    _, parts2 = distill.distill_loss([lm, lm + 3.0], torch.zeros(3, 7), lm, probs)
    assert parts2["landmarks"] == pytest.approx(np.hypot(3, 3) / 30, rel=1e-4)
    assert parts2["kl"] > 0
    with pytest.raises(ValueError, match="temperature"):
        distill.distill_loss([lm], torch.log(probs), lm, probs, temperature=0)


def test_distill_manifest_errors(tmp_path: Path) -> None:
    ok = {"photos": [{"path": "a.jpg", "split": "train", "origin": "o", "licence": "MIT"}]}
    photos = distill.read_manifest(ok, tmp_path)
    assert photos[0].path == tmp_path / "a.jpg" and photos[0].licence == "MIT"
    with pytest.raises(ValueError, match="split"):
        distill.read_manifest({"photos": [{"path": "a.jpg", "split": "dev"}]}, tmp_path)
    with pytest.raises(ValueError, match="twice"):
        distill.read_manifest({"photos": ok["photos"] * 2}, tmp_path)
    with pytest.raises(ValueError, match="no photos"):
        distill.read_manifest({}, tmp_path)
    with pytest.raises(ValueError, match="unknown augmentation"):
        distill.DistillAugment.from_dict({"rotate": 3})


def test_distill_tiny_run_lowers_loss() -> None:
    """Teacher targets on two real photos, then a few steps: the loss on a fixed batch drops."""
    from emotionaldan_ros.core.backends import create_recognizer
    from emotionaldan_ros.core.detection import create_detector
    from emotionaldan_ros.core.mean_shape import load_default_mean_shape
    from emotionaldan_ros.core.model import create_model

    torch.set_num_threads(1)
    photos = [
        distill.Photo(FIXTURES / "sample3.jpg", "train"),
        distill.Photo(FIXTURES / "sample6_small.jpg", "train"),
    ]
    teacher = create_recognizer("faceapi", landmark_model="face_landmark_68_tiny")
    t = distill.build_targets(photos, teacher, {"faceapi_tiny": create_detector("faceapi_tiny")})
    assert len(t["boxes"]) >= 4 and np.isfinite(t["landmarks"]).all()
    np.testing.assert_allclose(t["probs"].sum(1), 1.0, atol=1e-4)

    torch.manual_seed(0)
    model = create_model("emotionaldan_lite", num_stages=1, mean_shape=load_default_mean_shape())
    fixed = distill.DistillBatcher(t, distill.faces_of(t, "train"), distill.DistillAugment.none())
    x, lm, pr = fixed.batch(8)

    def batch_loss() -> float:
        model.train()
        torch.manual_seed(1)  # same dropout mask both times
        with torch.no_grad():
            out = model(x)
            return float(distill.distill_loss(out.landmarks, out.logits, lm, pr)[0])

    before = batch_loss()
    cfg = distill.DistillConfig(steps=12, batch_size=8, lr=3e-3, eval_every=100, threads=1)
    model, history = distill.train(t, cfg, distill.DistillAugment.none(), lambda e: None, model)
    after = batch_loss()
    assert history and history[-1]["step"] == 12
    assert after < 0.8 * before, (before, after)
