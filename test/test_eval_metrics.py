"""Metrics on small hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core import metrics as M

# 3 classes; truth/pred chosen so every figure can be worked out by hand.
T = np.array([0, 0, 0, 1, 1, 2, -1])
P = np.array([0, 1, 0, 1, 2, 2, 0])


def test_confusion_accuracy_recall_f1_by_hand() -> None:
    cm = M.confusion_matrix(T, P, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert M.accuracy(T, P) == pytest.approx(4 / 6)  # the -1 row is not counted
    np.testing.assert_allclose(M.per_class_recall(cm), [2 / 3, 1 / 2, 1.0])
    np.testing.assert_allclose(M.per_class_precision(cm), [1.0, 1 / 2, 1 / 2])
    f1 = [2 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]  # [0.8, 0.5, 0.6667]
    np.testing.assert_allclose(M.per_class_f1(cm), f1)
    assert M.macro_f1(cm) == pytest.approx(np.mean(f1))


def test_absent_classes_are_left_out_of_macro_average() -> None:
    cm = M.confusion_matrix([0, 0, 2], [0, 1, 2], 4)
    rec = M.per_class_recall(cm)
    assert rec[0] == 0.5 and math.isnan(rec[1]) and rec[2] == 1.0 and math.isnan(rec[3])
    # class 1 absent from the truth but predicted once: excluded from the macro mean
    assert M.macro_f1(cm) == pytest.approx(np.mean([2 * 0.5 / 1.5, 1.0]))
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        M.confusion_matrix([0, 5], [0, 1], 4)
    with pytest.raises(ValueError, match="differ in length"):
        M.accuracy([0, 1], [0])
    assert math.isnan(M.accuracy([-1], [0]))


def test_valence_accuracy_uses_design_mapping() -> None:
    classes = L.EMOTIONS_7
    t = [L.HAPPY, L.SURPRISE, L.SAD, L.ANGER, L.NEUTRAL, L.FEAR]
    p = [L.SURPRISE, L.HAPPY, L.FEAR, L.NEUTRAL, L.NEUTRAL, L.SURPRISE]
    # surprise positive: happy↔surprise and sad→fear are right in 3 classes; anger→neutral and
    # fear→surprise are wrong: 4/6.
    assert M.valence_accuracy(t, p, classes) == pytest.approx(4 / 6)
    # surprise negative: happy→surprise and surprise→happy become wrong, fear→surprise right: 3/6
    assert M.valence_accuracy(t, p, classes, surprise="negative") == pytest.approx(3 / 6)
    s = M.classification_summary(t, p, classes)
    assert s["accuracy"] == pytest.approx(1 / 6)
    assert s["valence_accuracy"] == pytest.approx(4 / 6)
    assert "happy, surprise→positive" in s["valence_mapping"]
    assert s["per_class_recall"]["disgust"] is None
    assert np.asarray(s["valence_confusion"]).sum() == 6


def test_nme_interocular_and_interpupil_by_hand() -> None:
    gt = np.zeros((1, 68, 2))
    gt[0, 36:42] = [10.0, 0.0]  # right eye contour all at x=10
    gt[0, 42:48] = [30.0, 0.0]  # left eye contour at x=30
    gt[0, 36] = [6.0, 0.0]  # outer corners 6 and 34 → interocular 28
    gt[0, 45] = [34.0, 0.0]
    pred = gt.copy()
    pred[0, :, 1] += 2.0  # every point off by 2 px
    assert M.nme(pred, gt, "interocular")[0] == pytest.approx(2.0 / 28.0)
    # pupil centres: (6 + 5*10)/6 and (5*30 + 34)/6 → distance 184/6 - 56/6 = 128/6
    assert M.nme(pred, gt, "interpupil")[0] == pytest.approx(2.0 / (128 / 6))
    with pytest.raises(ValueError, match="zero interocular"):
        M.nme(pred, np.zeros_like(gt))
    with pytest.raises(ValueError, match="norm must be"):
        M.nme(pred, gt, "bbox")
