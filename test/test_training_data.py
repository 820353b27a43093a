"""legend.csv loader, identity splits, soft-target loss and the TF.js graph executor."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emotionaldan_ros.core.data import load_dataset
from emotionaldan_ros.core.data.legend import identity_of
from emotionaldan_ros.core.data.sample import FaceSample
from emotionaldan_ros.core.data.split import split_by_identity
from emotionaldan_ros.core.faceapi.tfjs import TfjsFormatError
from emotionaldan_ros.core.model import joint_loss
from emotionaldan_ros.core.tfjs_graph import TfjsGraphModel

# --- legend.csv --------------------------------------------------------------------------------


def _legend_tree(root: Path, rows: list[tuple[str, str]], line_end: str = "\n") -> Path:
    (root / "data").mkdir(parents=True)
    (root / "images").mkdir()
    for name, _ in rows:
        if not name.startswith("missing"):
            cv2.imwrite(str(root / "images" / name), np.full((8, 8, 3), 99, np.uint8))
    text = line_end.join(["user.id,image,emotion", *(f"7,{n},{e}" for n, e in rows)])
    (root / "data" / "legend.csv").write_text(text + line_end)
    return root


def test_identity_of_naming_styles() -> None:
    assert identity_of("Tony_Blair_0004.jpg") == "tonyblair"
    assert identity_of("HrithikRoshan_12.jpg") == identity_of("Hrithik_Roshan_0001.jpg")
    assert identity_of("facial-expressions_2868588k.jpg") == "facialexpressions"
    assert identity_of("Thalia.jpg") == "thalia"


def test_legend_loader_labels_drops_and_subsets(tmp_path: Path) -> None:
    rows = [
        ("Ann_Lee_0001.jpg", "HAPPINESS"),
        ("Ann_Lee_0002.jpg", "fear"),
        ("Bob_Ray_0001.jpg", "contempt"),
        ("Bob_Ray_0001.jpg", "anger"),  # repeated image: kept once (and it is contempt)
        ("missing_0001.jpg", "sadness"),
        ("Dwarakish_14.jpg", "fear"),
        ("AnnLee_3.jpg", "disgust"),  # the same person in the movie naming style
    ]
    root = _legend_tree(tmp_path / "fe", rows, line_end="\r")  # old-Mac line ends
    ds = load_dataset(f"legend:{root}")
    assert [s.image.name for s in ds.samples] == [
        "Ann_Lee_0001.jpg",
        "Ann_Lee_0002.jpg",
        "Dwarakish_14.jpg",
        "AnnLee_3.jpg",
    ]
    assert [s.label for s in ds.samples] == [1, 4, 4, 5]
    assert ds.dropped == {"contempt": 1, "duplicate row": 1, "missing image": 1}
    assert ds.samples[0].identity == ds.samples[3].identity == "annlee"
    eight = load_dataset(f"legend:{root}?num_classes=8")
    assert 7 in [s.label for s in eight.samples]
    movies = load_dataset(f"legend:{root}?subset=movies")
    assert [s.image.name for s in movies.samples] == ["Dwarakish_14.jpg"]
    assert movies.dropped["person also in the lfw part"] == 1
    lfw = load_dataset(f"legend:{root}?subset=lfw")
    assert {s.image.name for s in lfw.samples} == {"Ann_Lee_0001.jpg", "Ann_Lee_0002.jpg"}


def test_legend_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"legend\.csv"):
        load_dataset(f"legend:{tmp_path}")
    root = _legend_tree(tmp_path / "bad", [("A_B_0001.jpg", "joyful")])
    with pytest.raises(ValueError, match=r"legend\.csv:2: unknown emotion 'joyful'"):
        load_dataset(f"legend:{root}")
    ok = _legend_tree(tmp_path / "ok", [("A_B_0001.jpg", "neutral")])
    with pytest.raises(ValueError, match="subset must be one of"):
        load_dataset(f"legend:{ok}?subset=imdb")


# --- identity split -----------------------------------------------------------------------------


def test_split_by_identity_keeps_people_apart_and_classes_represented() -> None:
    rng = np.random.default_rng(0)
    samples = []
    for person in range(200):
        label = 4 if person < 20 else int(rng.integers(0, 2))
        for k in range(int(rng.integers(1, 6))):
            samples.append(
                FaceSample(Path(f"p{person}_{k}.jpg"), label=label, identity=f"p{person}")
            )
    train, val = split_by_identity(samples, 0.2, seed=3)
    assert len(train) + len(val) == len(samples)
    assert not {s.identity for s in train} & {s.identity for s in val}
    fear_val = sum(s.label == 4 for s in val) / sum(s.label == 4 for s in samples)
    assert 0.05 < fear_val < 0.4  # the rare class is on both sides
    assert 0.1 < len(val) / len(samples) < 0.3
    again = split_by_identity(samples, 0.2, seed=3)[1]
    assert [s.image for s in again] == [s.image for s in val]
    assert split_by_identity(samples, 0.0)[1] == []
    with pytest.raises(ValueError):
        split_by_identity(samples, 1.0)


# --- soft-target cross-entropy -----------------------------------------------------------------


def test_joint_loss_soft_targets() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 1, 2])
    hard, _ = joint_loss(None, None, logits, labels, alpha=0.0, beta=1.0)
    onehot, parts = joint_loss(
        None, None, logits, labels, alpha=0.0, beta=1.0, targets=F.one_hot(labels, 3).float()
    )
    assert torch.allclose(hard, onehot) and int(parts["n_labels"]) == 3
    soft = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.2, 0.2, 0.6]])
    loss, parts = joint_loss(None, None, logits, labels, alpha=0.0, beta=1.0, targets=soft)
    logp = F.log_softmax(logits, 1)
    expect = -((soft[[0, 2]] * logp[[0, 2]]).sum(1)).mean()  # the all-zero row is skipped
    assert torch.allclose(loss, expect) and int(parts["n_labels"]) == 2


# --- TF.js graph models --------------------------------------------------------------------------


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _graph_model(folder: Path, weights: dict[str, np.ndarray], nodes: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    specs = [
        {"name": k, "shape": list(v.shape), "dtype": "int32" if v.dtype == np.int32 else "float32"}
        for k, v in weights.items()
    ]
    consts = [{"name": k, "op": "Const", "attr": {}} for k in weights]
    (folder / "m.bin").write_bytes(
        b"".join(
            v.astype("<f4" if v.dtype != np.int32 else "<i4").tobytes() for v in weights.values()
        )
    )
    doc = {
        "format": "graph-model",
        "modelTopology": {"node": [{"name": "x", "op": "Placeholder"}, *consts, *nodes]},
        "weightsManifest": [{"paths": ["m.bin"], "weights": specs}],
    }
    path = folder / "model.json"
    path.write_text(json.dumps(doc))
    return path


def _attrs(strides: int = 1, padding: str = "SAME", fused: tuple[str, ...] = ()) -> dict:
    out = {
        "strides": {"list": {"i": ["1", str(strides), str(strides), "1"]}},
        "padding": {"s": _b64(padding)},
        "data_format": {"s": _b64("NHWC")},
    }
    if fused:
        out["fused_ops"] = {"list": {"s": [_b64(f) for f in fused]}}
    return out


def _tf_same_pad(x: np.ndarray, k: int, s: int, value: float = 0.0) -> np.ndarray:
    """NHWC 'SAME' padding as TensorFlow defines it (extra pixel after)."""
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _np_conv(x: np.ndarray, w: np.ndarray, s: int, depthwise: bool = False) -> np.ndarray:
    """Direct NHWC convolution, VALID on an already padded input (the reference)."""
    k = w.shape[0]
    oh, ow = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[2] if depthwise else w.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * s : i * s + k, j * s : j * s + k, :]
            if depthwise:
                out[:, i, j] = np.einsum("nhwc,hwc->nc", patch, w[..., 0])
            else:
                out[:, i, j] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def test_tfjs_graph_matches_a_numpy_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w = {
        "w1": rng.normal(size=(3, 3, 1, 4)).astype(np.float32),
        "b1": rng.normal(size=4).astype(np.float32),
        "dw": rng.normal(size=(3, 3, 4, 1)).astype(np.float32),
        "w2": rng.normal(size=(1, 1, 4, 3)).astype(np.float32),
        "b2": rng.normal(size=3).astype(np.float32),
        "axes": np.array([1, 2], np.int32),
    }
    pool = {"ksize": {"list": {"i": ["1", "3", "3", "1"]}}, **_attrs(2)}
    nodes = [
        {
            "name": "c1",
            "op": "_FusedConv2D",
            "input": ["x", "w1", "b1"],
            "attr": _attrs(2, fused=("BiasAdd", "Relu")),
        },
        {"name": "d", "op": "DepthwiseConv2dNative", "input": ["c1", "dw"], "attr": _attrs(1)},
        {"name": "p", "op": "MaxPool", "input": ["c1"], "attr": pool},
        {"name": "dp", "op": "MaxPool", "input": ["d"], "attr": pool},
        {"name": "a", "op": "AddV2", "input": ["p", "dp"]},
        {
            "name": "c2",
            "op": "_FusedConv2D",
            "input": ["a", "w2", "b2"],
            "attr": _attrs(1, "VALID", ("BiasAdd",)),
        },
        {"name": "m", "op": "Mean", "input": ["c2", "axes"], "attr": {"keep_dims": {"b": False}}},
        {"name": "out", "op": "Softmax", "input": ["m"]},
    ]
    model = TfjsGraphModel(_graph_model(tmp_path / "g", w, nodes))
    x = rng.normal(size=(2, 11, 13, 1)).astype(np.float32)
    got = model(torch.from_numpy(x)).numpy()

    c1 = np.maximum(_np_conv(_tf_same_pad(x, 3, 2), w["w1"], 2) + w["b1"], 0)
    d = _np_conv(_tf_same_pad(c1, 3, 1), w["dw"], 1, depthwise=True)

    def maxpool(t: np.ndarray) -> np.ndarray:
        t = _tf_same_pad(t, 3, 2, -np.inf)
        oh, ow = (t.shape[1] - 3) // 2 + 1, (t.shape[2] - 3) // 2 + 1
        return np.stack(
            [
                np.stack(
                    [t[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max((1, 2)) for j in range(ow)], 1
                )
                for i in range(oh)
            ],
            1,
        )

    c2 = _np_conv(maxpool(c1) + maxpool(d), w["w2"], 1) + w["b2"]
    m = c2.mean((1, 2))
    ref = np.exp(m - m.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-6)


def test_tfjs_graph_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    w = {"k": np.ones((1,), np.float32)}
    bad = _graph_model(tmp_path / "a", w, [{"name": "o", "op": "Sigmoid", "input": ["x"]}])
    with pytest.raises(TfjsFormatError, match="unsupported op 'Sigmoid'"):
        TfjsGraphModel(bad)
    layers = tmp_path / "b" / "model.json"
    layers.parent.mkdir()
    layers.write_text(json.dumps({"format": "layers-model"}))
    with pytest.raises(TfjsFormatError, match="not 'graph-model'"):
        TfjsGraphModel(layers)
    with pytest.raises(FileNotFoundError):
        TfjsGraphModel(tmp_path / "nope.json")


# --- crop calibration ---------------------------------------------------------------------------


def test_crop_calibration_recovers_the_training_crop() -> None:
    """Detector boxes 20 % smaller and higher than training boxes: the calibrated margin and
    shift cut, from the detector boxes, exactly the training crops."""
    from emotionaldan_ros.core import alignment
    from emotionaldan_ros.training.calibrate import crop_for_boxes

    rng = np.random.default_rng(4)
    train = []
    for _ in range(9):
        x, y, s = rng.uniform(50, 300), rng.uniform(50, 300), rng.uniform(40, 160)
        train.append(np.array([x, y, x + s, y + s]))
    det = []
    for b in train:
        c, s = (b[:2] + b[2:]) / 2, (b[2] - b[0]) * 0.8
        c = c + np.array([0.0, -0.1 * s])
        det.append(np.r_[c - s / 2, c + s / 2])
    cal = crop_for_boxes(list(zip(det, train, strict=True)))
    assert cal["faces"] == 9 and abs(cal["scale"] - 1.25) < 1e-6
    want = alignment.crop_transforms(np.array(train), 112)
    got = alignment.crop_transforms(np.array(det), 112, cal["margin"], cal["shift"])
    np.testing.assert_allclose(got, want, atol=2e-3)
    with pytest.raises(ValueError):
        crop_for_boxes([])
