import math

import pytest
import torch
import torch.nn.functional as F

from emotionaldan_ros.core.model.loss import interpupil_distance, joint_loss, nme


def _face(eye_dist: float = 40.0) -> torch.Tensor:
    """68 points; the left eye ring (36–41) around (30, 50), the right (42–47) around
    (30 + eye_dist, 50); the ring's radius differs from eye to eye so the centres, not the
    corners, decide the inter-pupil distance."""
    pts = torch.zeros(68, 2, dtype=torch.float64)
    pts[:, 0] = torch.arange(68, dtype=torch.float64)
    pts[:, 1] = 90.0
    ang = torch.arange(6, dtype=torch.float64) * (2 * math.pi / 6)
    ring = torch.stack([torch.cos(ang), torch.sin(ang)], dim=1)
    pts[36:42] = torch.tensor([30.0, 50.0], dtype=torch.float64) + 3 * ring
    pts[42:48] = torch.tensor([30.0 + eye_dist, 50.0], dtype=torch.float64) + 5 * ring
    return pts


def test_interpupil_distance_uses_eye_centres():
    gt = torch.stack([_face(40.0), _face(25.0)])
    torch.testing.assert_close(interpupil_distance(gt), torch.tensor([40.0, 25.0]).double())


def test_nme_hand_computed():
    gt = _face(40.0)[None]
    pred = gt.clone()
    pred[0, 0] += torch.tensor([3.0, 4.0], dtype=torch.float64)  # one point 5 px off
    pred[0, 10] += torch.tensor([0.0, -8.0], dtype=torch.float64)  # another 8 px off
    expected = (5.0 + 8.0) / 68 / 40.0
    assert nme(pred, gt).item() == pytest.approx(expected)
    # Inter-ocular: outer corners 36 (30 + 3, 50) and 45 (70 - 5, 50) are 32 px apart.
    assert nme(pred, gt, "interocular").item() == pytest.approx((5.0 + 8.0) / 68 / 32.0)
    assert nme(pred, gt, reduction="none").shape == (1,)
    with pytest.raises(ValueError, match="norm"):
        nme(pred, gt, "bogus")


def test_joint_loss_weighting_paper_and_public_code():
    gt = torch.stack([_face(40.0), _face(20.0)])
    pred = gt + torch.tensor([2.0, 0.0], dtype=torch.float64)  # every point 2 px off
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 2])
    nme_ref = (2 / 40 + 2 / 20) / 2
    ce_ref = F.cross_entropy(logits, labels).item()
    loss, parts = joint_loss(pred, gt, logits, labels)
    assert loss.item() == pytest.approx(0.4 * nme_ref + 0.6 * ce_ref)
    assert parts["nme"].item() == pytest.approx(nme_ref)
    assert parts["ce"].item() == pytest.approx(ce_ref)
    loss55, _ = joint_loss([pred * 0, pred], gt, logits, labels, alpha=0.5, beta=0.5)
    assert loss55.item() == pytest.approx(0.5 * nme_ref + 0.5 * ce_ref)  # last stage used


def test_joint_loss_masks_missing_landmarks_and_labels():
    gt = torch.stack([_face(40.0), _face(20.0), _face(30.0)])
    gt[1] = float("nan")  # sample 1: no landmarks
    pred = torch.stack([_face(40.0), _face(20.0), _face(30.0)]) + 3.0
    pred.requires_grad_()
    logits = torch.tensor([[1.0, 0.0], [0.0, 3.0], [0.5, 0.5]], requires_grad=True)
    labels = torch.tensor([-1, 1, 0])  # sample 0: no label
    mask = torch.tensor([True, True, False])  # sample 2: landmarks flagged missing
    loss, parts = joint_loss(pred, gt, logits, labels, landmark_mask=mask)
    nme_ref = math.hypot(3, 3) / 40  # only sample 0 has landmarks
    ce_ref = F.cross_entropy(logits[1:], labels[1:]).item()
    assert parts["nme"].item() == pytest.approx(nme_ref)
    assert parts["ce"].item() == pytest.approx(ce_ref)
    assert parts["n_landmarks"].item() == 1 and parts["n_labels"].item() == 2
    loss.backward()
    assert torch.isfinite(pred.grad).all() and torch.isfinite(logits.grad).all()
    assert torch.all(pred.grad[1:] == 0) and torch.any(pred.grad[0] != 0)
    assert torch.all(logits.grad[0] == 0)


def test_joint_loss_single_terms():
    gt = _face()[None]
    pred = (gt + 1.0).requires_grad_()
    loss, parts = joint_loss(pred, gt, None, None)  # landmark-only stage
    assert loss.item() == pytest.approx(0.4 * math.sqrt(2) / 40) and parts["ce"].item() == 0
    logits = torch.zeros(1, 7, requires_grad=True)
    loss, parts = joint_loss([], None, logits, torch.tensor([3]))  # baseline, no landmarks
    assert loss.item() == pytest.approx(0.6 * math.log(7)) and parts["nme"].item() == 0
    loss, parts = joint_loss(pred, gt, logits, torch.tensor([-1]))  # nothing labelled
    assert parts["ce"].item() == 0 and loss.requires_grad
    with pytest.raises(ValueError, match="needs"):
        joint_loss(None, None, None, None)
