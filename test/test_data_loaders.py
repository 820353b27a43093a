"""Dataset loaders on tiny fixture trees written in each dataset's exact on-disk format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotionaldan_ros.core import labels as L
from emotionaldan_ros.core.data import load_dataset, parse_dataset_spec
from emotionaldan_ros.core.data.affectnet import load_affectnet
from emotionaldan_ros.core.data.ckplus import load_ckplus
from emotionaldan_ros.core.data.folder import load_class_folders, load_csv, write_csv
from emotionaldan_ros.core.data.jaffe import load_jaffe
from emotionaldan_ros.core.data.pts import load_pts_folder, read_pts, write_pts
from emotionaldan_ros.core.data.sample import FaceSample, read_image

RNG = np.random.default_rng(0)


def _img(path: Path, size: tuple[int, int] = (40, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = cv2.imwrite(str(path), RNG.integers(0, 255, (*size[::-1], 3), dtype=np.uint8))
    assert ok
    return path


def _landmarks(offset: float = 0.0) -> np.ndarray:
    return (np.arange(136, dtype=np.float32).reshape(68, 2) * 0.25 + offset).round(3)


# --- AffectNet ---------------------------------------------------------------------------------


def _affectnet_row(path: str, code: int, lm: np.ndarray) -> str:
    lms = ";".join(f"{v:g}" for v in lm.reshape(-1))
    return f"{path},5,6,30,28,{lms},{code},0.5,-0.25"


def _affectnet_tree(root: Path, header: bool = True) -> None:
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    rows = []
    for i, code in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1]):
        rel = f"{100 + i}/img{i}.jpg"
        _img(root / "Manually_Annotated_Images" / rel)
        rows.append(_affectnet_row(rel, code, _landmarks(i)))
    rows.append(_affectnet_row("999/missing.jpg", 2, _landmarks()))
    head = (
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
        "expression,valence,arousal\n"
    )
    text = (head if header else "") + "\n".join(rows) + "\n"
    (lists / "training.csv").write_text(text)
    (lists / "validation.csv").write_text("\n".join(rows[:3]) + "\n")  # as shipped: no header


def test_affectnet_codes_boxes_landmarks_and_drops(tmp_path: Path) -> None:
    _affectnet_tree(tmp_path)
    ds = load_affectnet(tmp_path, "training")
    assert [s.label for s in ds.samples] == [0, 1, 2, 3, 4, 5, 6, 1]
    assert ds.dropped == {
        "contempt": 1,
        "none": 1,
        "uncertain": 1,
        "no-face": 1,
        "missing image": 1,
    }
    s = ds.samples[3]
    np.testing.assert_allclose(s.box, [5, 6, 35, 34])
    np.testing.assert_allclose(s.landmarks, _landmarks(3), atol=1e-3)
    assert s.image == tmp_path / "Manually_Annotated_Images" / "103" / "img3.jpg"
    assert read_image(s.image).shape == (32, 40, 3)


def test_affectnet_eight_classes_keeps_contempt_and_headerless_validation(tmp_path: Path) -> None:
    _affectnet_tree(tmp_path)
    ds8 = load_affectnet(tmp_path, "training", num_classes=8)
    assert L.CONTEMPT in [s.label for s in ds8.samples]
    assert "contempt" not in ds8.dropped
    val = load_affectnet(tmp_path, "validation")
    assert [s.label for s in val.samples] == [0, 1, 2]


def test_affectnet_bad_rows_name_the_line(tmp_path: Path) -> None:
    _affectnet_tree(tmp_path)
    csv_file = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    lines = csv_file.read_text().splitlines()
    lines[2] = lines[2].replace(";", ";;", 1).rsplit(";", 3)[0] + ",1,0,0"  # too few values
    csv_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"training\.csv:3.*landmark values"):
        load_affectnet(tmp_path)
    with pytest.raises(FileNotFoundError, match="AffectNet"):
        load_affectnet(tmp_path / "nope")


# --- CK+ ---------------------------------------------------------------------------------------


def _ckplus_tree(root: Path) -> None:
    # (subject, sequence, frames, CK+ code or None)
    seqs = [
        ("S005", "001", 5, 3),
        ("S010", "002", 4, 5),
        ("S011", "001", 3, 2),
        ("S012", "003", 3, None),
    ]
    for subj, seq, n, code in seqs:
        for f in range(1, n + 1):
            _img(root / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{f:08d}.png")
        if code is not None:
            emo = root / "Emotion" / subj / seq / f"{subj}_{seq}_{n:08d}_emotion.txt"
            emo.parent.mkdir(parents=True, exist_ok=True)
            emo.write_text(f"   {code:.7e}\n")
    lm_file = root / "Landmarks" / "S005" / "001" / "S005_001_00000005_landmarks.txt"
    lm_file.parent.mkdir(parents=True)
    lm_file.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in _landmarks(1.0)))
    (root / "cohn-kanade-images" / "S005" / "001" / ".DS_Store").write_text("junk")


def test_ckplus_peaks_neutral_first_and_code_mapping(tmp_path: Path) -> None:
    _ckplus_tree(tmp_path)
    ds = load_ckplus(tmp_path, peak_frames=2)
    got = [(s.image.name, s.label) for s in ds.samples]
    assert got == [
        ("S005_001_00000001.png", L.NEUTRAL),
        ("S005_001_00000004.png", L.DISGUST),  # CK+ 3 = disgust
        ("S005_001_00000005.png", L.DISGUST),
        ("S010_002_00000001.png", L.NEUTRAL),
        ("S010_002_00000003.png", L.HAPPY),  # CK+ 5 = happy
        ("S010_002_00000004.png", L.HAPPY),
    ]
    assert ds.dropped == {"contempt sequence": 1, "unlabelled sequence": 1}
    np.testing.assert_allclose(ds.samples[2].landmarks, _landmarks(1.0), atol=1e-4)
    assert ds.samples[1].landmarks is None and ds.samples[2].box is None


def test_ckplus_eight_classes_and_single_peak(tmp_path: Path) -> None:
    _ckplus_tree(tmp_path)
    ds = load_ckplus(tmp_path, peak_frames=1, neutral_first=False, num_classes=8)
    assert [s.label for s in ds.samples] == [L.DISGUST, L.HAPPY, L.CONTEMPT]
    assert [s.image.stem[-2:] for s in ds.samples] == ["05", "04", "03"]


def test_ckplus_bad_emotion_file(tmp_path: Path) -> None:
    _ckplus_tree(tmp_path)
    (tmp_path / "Emotion" / "S005" / "001" / "S005_001_00000005_emotion.txt").write_text("9.0\n")
    with pytest.raises(ValueError, match="emotion code"):
        load_ckplus(tmp_path)
    with pytest.raises(FileNotFoundError, match="cohn-kanade-images root folder not found"):
        load_ckplus(tmp_path / "cohn-kanade-images")


# --- JAFFE -------------------------------------------------------------------------------------


def test_jaffe_labels_from_file_names(tmp_path: Path) -> None:
    names = {
        "KA.AN1.39.tiff": L.ANGER,
        "KA.DI2.43.tiff": L.DISGUST,
        "KL.FE3.57.tiff": L.FEAR,
        "KM.HA4.6.tiff": L.HAPPY,
        "NA.NE1.202.tiff": L.NEUTRAL,
        "TM.SA2.191.tiff": L.SAD,
        "YM.SU1.58.tiff": L.SURPRISE,
    }
    for name in names:
        _img(tmp_path / "jaffe" / name)
    _img(tmp_path / "jaffe" / "cover.tiff")
    (tmp_path / "jaffe" / "README").write_text("not an image")
    ds = load_jaffe(tmp_path)
    assert {s.image.name: s.label for s in ds.samples} == names
    assert sum(ds.dropped.values()) == 1
    assert read_image(ds.samples[0].image, gray=True).shape == (32, 40)


# --- class folders and CSV ---------------------------------------------------------------------


def test_class_folders_with_aliases(tmp_path: Path) -> None:
    for folder, n in [("Happy", 2), ("angry", 1), ("Surprised", 1), ("misc", 3), ("contempt", 1)]:
        for i in range(n):
            _img(tmp_path / folder / f"{i}.jpg")
    _img(tmp_path / "Sadness" / "sub" / "x.png")
    ds = load_class_folders(tmp_path, name="ised")
    assert sorted(s.label for s in ds.samples) == sorted(
        [L.HAPPY] * 2 + [L.ANGER, L.SURPRISE, L.SAD]
    )
    assert ds.dropped == {"folder 'contempt' (not a class)": 1, "folder 'misc' (not a class)": 3}
    assert ds.samples[0].source == "ised"


def test_csv_format_round_trip_and_errors(tmp_path: Path) -> None:
    a, b, _c = (_img(tmp_path / "imgs" / f"{i}.png") for i in "abc")
    (tmp_path / "list.csv").write_text(
        "path,label,x1,y1,x2,y2,landmarks\n"
        f"imgs/a.png,Happy,1,2,30,31,\n"
        f"{b},6,,,,,\n"
        f'imgs/c.png,,,,,,"{";".join("1.5" for _ in range(136))}"\n'
        "imgs/gone.png,sad,,,,,\n"
    )
    ds = load_csv(tmp_path / "list.csv")
    assert [s.label for s in ds.samples] == [L.HAPPY, L.ANGER, -1]
    np.testing.assert_allclose(ds.samples[0].box, [1, 2, 30, 31])
    assert ds.samples[2].landmarks.shape == (68, 2) and ds.samples[1].image == b
    assert ds.dropped == {"missing image": 1}
    write_csv(tmp_path / "again.csv", ds.samples)
    again = load_csv(tmp_path / "again.csv")
    assert [(s.image.resolve(), s.label) for s in again.samples] == [
        (s.image.resolve(), s.label) for s in ds.samples
    ]
    np.testing.assert_allclose(again.samples[2].landmarks, 1.5)
    (tmp_path / "bad.csv").write_text(f"{a},grumpy\n")
    with pytest.raises(ValueError, match=r"bad\.csv:1: unknown class name 'grumpy'"):
        load_csv(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text(f"{a},1,5,5,5,9\n")
    with pytest.raises(ValueError, match="zero-area box"):
        load_csv(tmp_path / "bad2.csv")


# --- .pts --------------------------------------------------------------------------------------


def test_pts_folder_one_based_to_pixel_centres(tmp_path: Path) -> None:
    _img(tmp_path / "helen" / "trainset" / "100032540_1.jpg")
    write_pts(tmp_path / "helen" / "trainset" / "100032540_1.pts", _landmarks(1.0))
    write_pts(tmp_path / "helen" / "trainset" / "orphan.pts", _landmarks())
    ds = load_pts_folder(tmp_path)
    assert len(ds) == 1 and ds.samples[0].label == -1
    np.testing.assert_allclose(ds.samples[0].landmarks, _landmarks(0.0), atol=1e-5)
    assert ds.dropped == {"no image beside .pts": 1}
    (tmp_path / "broken.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n}\n")
    with pytest.raises(ValueError, match="header says 68 points"):
        read_pts(tmp_path / "broken.pts")


# --- registry, sample validation, image reading -------------------------------------------------


def test_dataset_specs(tmp_path: Path) -> None:
    _ckplus_tree(tmp_path)
    assert parse_dataset_spec("ckplus:/a/b?peak_frames=3&neutral_first=false") == {
        "name": "ckplus",
        "root": "/a/b",
        "peak_frames": 3,
        "neutral_first": False,
    }
    ds = load_dataset(f"ckplus:{tmp_path}?peak_frames=2")
    assert len(ds) == 6
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset("nope:/x")
    with pytest.raises(ValueError, match="NAME:ROOT"):
        load_dataset("ckplus")
    with pytest.raises(ValueError, match="bad option"):
        load_dataset(f"ckplus:{tmp_path}?bogus=1")


def test_sample_validation_and_corrupt_image(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="landmarks must be"):
        FaceSample(tmp_path / "x.png", None, np.zeros((5, 2)), 1)
    with pytest.raises(ValueError, match="box must be 4 finite"):
        FaceSample(tmp_path / "x.png", np.array([0, 0, np.nan, 3]))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="cannot decode"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "none.png")
