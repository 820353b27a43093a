"""Offline replay-eval: scoring a bag that already holds /cabin/emotion (no ROS needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotionaldan_ros.bag import msgs
from emotionaldan_ros.bag.bagio import BagWriter
from emotionaldan_ros.bag.cli import main
from emotionaldan_ros.bag.from_dataset import IMAGE_TOPIC, LABEL_TOPIC
from emotionaldan_ros.bag.replay_eval import evaluate_offline
from emotionaldan_ros.core import labels as L

EMO = "/cabin/emotion"
T0, DT = 10**9, 10**8


def _p(label: int) -> np.ndarray:
    probs = np.full(7, 0.05, np.float32)
    probs[label] = 0.7
    return probs


def _make_bag(path, storage="mcap"):
    """8 frames with hand-checked outcomes (see the comments)."""
    whole = (0, 0, 100, 100)
    truth = [  # (label, box)
        (L.HAPPY, None),  # f0: 1 face, happy → right
        (L.SAD, None),  # f1: fear → wrong, valence right
        (L.ANGER, (100, 100, 200, 200)),  # f2: 2 faces, the one on the box says disgust
        (L.NEUTRAL, None),  # f3: empty output → face not found
        (L.SURPRISE, None),  # f4: no output at all → dropped
        (-1, None),  # f5: unlabelled
        (L.SURPRISE, None),  # f6: largest of 2 faces says happy → wrong, valence right
        (L.HAPPY, None),  # f7: right; a later duplicate output says sad (ignored)
    ]
    outputs = {
        0: [(whole, _p(L.HAPPY))],
        1: [(whole, _p(L.FEAR))],
        2: [((0, 0, 50, 50), _p(L.ANGER)), ((110, 100, 200, 210), _p(L.DISGUST))],
        3: [],
        5: [(whole, _p(L.HAPPY))],
        6: [((0, 0, 10, 10), _p(L.NEUTRAL)), (whole, _p(L.HAPPY))],
        7: [(whole, _p(L.HAPPY))],
    }
    with BagWriter(path, storage=storage) as w:
        w.add_topic(IMAGE_TOPIC, msgs.IMAGE)
        w.add_topic(LABEL_TOPIC, msgs.LABEL)
        w.add_topic(EMO, msgs.EMOTION_ARRAY)
        img = np.zeros((8, 8, 3), np.uint8)
        for i, (label, box) in enumerate(truth):
            stamp = T0 + i * DT
            w.write(IMAGE_TOPIC, stamp, msgs.image(img, stamp, "cam"))
            w.write(LABEL_TOPIC, stamp, msgs.label(label, stamp, "cam", f"f{i}", box))
            if i in outputs:  # received (i + 1) * 5 ms after its image
                w.write(
                    EMO,
                    stamp + (i + 1) * 5_000_000,
                    msgs.emotion_array(stamp, "cam", outputs[i], 3.0, "stub"),
                )
        stamp = T0 + 7 * DT
        w.write(EMO, stamp + 50_000_000, msgs.emotion_array(stamp, "cam", [(whole, _p(L.SAD))]))
        w.write(EMO, T0 + 99 * DT, msgs.emotion_array(T0 + 77, "cam", []))  # matches no frame


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_offline_scores_match_hand_computed_values(tmp_path, storage):
    bag = tmp_path / "bag"
    _make_bag(bag, storage)
    report = evaluate_offline(bag, tmp_path / "out")
    assert report["frames"] == 8 and report["labelled_frames"] == 7
    assert report["frames_with_output"] == 7
    assert report["dropped_frames"] == 1 and report["dropped_rate"] == pytest.approx(1 / 8)
    assert report["unmatched_outputs"] == 1 and report["duplicate_outputs"] == 1
    det = report["detection"]
    assert (det["labelled_frames_with_output"], det["labelled_face_found"]) == (6, 5)
    assert det["rate"] == pytest.approx(5 / 6) and det["frames_with_any_face"] == 6
    rec = report["recognition"]
    assert rec["n"] == 5
    assert rec["accuracy"] == pytest.approx(2 / 5)
    assert rec["valence_accuracy"] == pytest.approx(1.0)
    assert rec["per_class_recall"] == {
        "neutral": None,
        "happy": 1.0,
        "sad": 0.0,
        "surprise": 0.0,
        "fear": None,
        "disgust": None,
        "anger": 0.0,
    }
    # happy: precision 2/3, recall 1 → F1 0.8; sad, surprise, anger: 0.
    assert rec["macro_f1"] == pytest.approx(0.2)
    cm = np.array(rec["confusion"])
    assert cm.sum() == 5 and cm[L.ANGER, L.DISGUST] == 1 and cm[L.SURPRISE, L.HAPPY] == 1
    assert report["end_to_end"]["accuracy"] == pytest.approx(2 / 7)
    assert report["end_to_end"]["valence_accuracy"] == pytest.approx(5 / 7)
    lat = report["latency_ms"]
    assert lat["n"] == 7 and lat["p50"] == pytest.approx(20.0) and lat["max"] == pytest.approx(40)
    assert report["processing_time_ms"]["p50"] == pytest.approx(3.0)
    assert report["models"] == ["stub"]
    out = tmp_path / "out"
    assert json.loads((out / "report.json").read_text())["recognition"]["n"] == 5
    md = (out / "report.md").read_text()
    assert "| 7-class accuracy (face found) | 40.0 % (n = 5) |" in md
    for png in ("confusion_7.png", "confusion_3.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_surprise_mapping_changes_valence_scores(tmp_path):
    bag = tmp_path / "bag"
    _make_bag(bag)
    report = evaluate_offline(bag, tmp_path / "out", surprise="negative")
    # f6 (surprise → negative, predicted happy → positive) is now wrong in 3 classes.
    assert report["recognition"]["valence_accuracy"] == pytest.approx(4 / 5)
    assert "surprise" in report["recognition"]["valence_mapping"]


def test_offline_cli_and_missing_topics(tmp_path, capsys):
    bag = tmp_path / "bag"
    _make_bag(bag)
    assert main(["replay-eval", str(bag), "--offline", "-o", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "accuracy 0.400 (3-class 1.000)" in out and "1 outputs matched no frame" in out
    no_emotion = tmp_path / "plain"
    with BagWriter(no_emotion) as w:
        w.add_topic(IMAGE_TOPIC, msgs.IMAGE)
        w.write(IMAGE_TOPIC, 5, msgs.image(np.zeros((4, 4, 3), np.uint8), 5, "cam"))
    assert main(["replay-eval", str(no_emotion), "--offline", "-o", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert "no topic /cabin/emotion" in err and "Traceback" not in err


def test_recorded_outputs_as_reference_and_missing_ground_truth(tmp_path):
    # An "old model" run recorded on /cabin/emotion_old serves as the reference for a new one.
    bag = tmp_path / "bag"
    whole = (0, 0, 100, 100)
    old = [L.HAPPY, L.SAD, None, L.FEAR]  # None: the old run saw nobody
    new = [L.HAPPY, L.ANGER, L.HAPPY, L.FEAR]
    with BagWriter(bag) as w:
        w.add_topic(IMAGE_TOPIC, msgs.IMAGE)
        w.add_topic("/cabin/emotion_old", msgs.EMOTION_ARRAY)
        w.add_topic(EMO, msgs.EMOTION_ARRAY)
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            stamp = T0 + i * DT
            w.write(IMAGE_TOPIC, stamp, msgs.image(np.zeros((4, 4, 3), np.uint8), stamp, "c"))
            faces = [] if a is None else [((0, 0, 10, 10), _p(L.NEUTRAL)), (whole, _p(a))]
            w.write("/cabin/emotion_old", stamp + 1, msgs.emotion_array(stamp, "c", faces))
            w.write(EMO, stamp + 2, msgs.emotion_array(stamp, "c", [(whole, _p(b))]))
    report = evaluate_offline(bag, tmp_path / "r", label_topic="/cabin/emotion_old")
    assert report["labelled_frames"] == 3
    assert report["recognition"]["accuracy"] == pytest.approx(2 / 3)  # agreement
    assert report["recognition"]["valence_accuracy"] == pytest.approx(1.0)

    report = evaluate_offline(bag, tmp_path / "s")  # no /cabin/ground_truth in this bag
    assert report["recognition"] is None and report["frames_with_output"] == 4
    assert report["warnings"] == [
        "no ground truth on /cabin/ground_truth: accuracy is not computed"
    ]
    assert "accuracy" in (tmp_path / "s" / "report.md").read_text()
