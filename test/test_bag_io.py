"""Bag types, info, from-dataset and bad-input handling (no ROS needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from emotionaldan_ros.bag import msgs
from emotionaldan_ros.bag.bagio import BagReader, BagWriter
from emotionaldan_ros.bag.cli import main
from emotionaldan_ros.bag.errors import BagError
from emotionaldan_ros.bag.from_dataset import IMAGE_TOPIC, LABEL_TOPIC, convert
from emotionaldan_ros.bag.info import bag_info
from emotionaldan_ros.bag.types import find_msg_file, get_store, split_definition, type_hash
from emotionaldan_ros.core import labels as L

REPO_MSG_DIR = Path(__file__).resolve().parents[1] / "emotionaldan_msgs" / "msg"
ALL_TYPES = sorted(f"emotionaldan_msgs/msg/{p.stem}" for p in REPO_MSG_DIR.glob("*.msg"))


def _gray(value: int, size: tuple[int, int] = (40, 32)) -> np.ndarray:
    return np.full((size[1], size[0], 3), value, np.uint8)


def _read_labels(bag: Path) -> list[tuple[int, int, int, str]]:
    """(image stamp, label stamp, label, source) per frame, in bag order."""
    out, images = [], []
    with BagReader(bag) as reader:
        for topic, msgtype, t_ns, raw in reader.messages():
            msg = reader.deserialize(raw, msgtype)
            assert msgs.stamp_ns(msg.header) == t_ns
            if topic == IMAGE_TOPIC:
                images.append(t_ns)
            else:
                out.append((t_ns, msg.label, msg.source))
    assert len(images) == len(out)
    return [(i, t, lab, src) for i, (t, lab, src) in zip(images, out, strict=True)]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_stored_definitions_equal_msg_files_and_hashes_equal_rosidl(tmp_path, storage):
    bag = tmp_path / "bag"
    with BagWriter(bag, storage=storage) as writer:
        for i, msgtype in enumerate(ALL_TYPES):
            writer.add_topic(f"/t{i}", msgtype)
        writer.add_topic("/img", msgs.IMAGE)
        writer.write("/img", 1, msgs.image(_gray(1), 1, "cam"))
    reader = Reader(bag)
    reader.open()
    try:
        conns = {c.msgtype: c for c in reader.connections}
        assert set(conns) == {*ALL_TYPES, msgs.IMAGE}
        for msgtype, conn in conns.items():
            sections = split_definition(conn.msgdef.data, msgtype)
            assert msgtype in sections
            for name, text in sections.items():
                path = REPO_MSG_DIR / f"{name.rpartition('/')[2]}.msg"
                if not name.startswith("emotionaldan_msgs/"):
                    path = find_msg_file(name)
                    if path is None:  # no installed .msg for a ROS type: nothing to compare
                        continue
                assert text == path.read_text().rstrip("\n"), name
            assert conn.digest == type_hash(msgtype)
            # rosidl writes its own hash next to the installed .msg: ours must equal it.
            installed = find_msg_file(msgtype)
            json_path = installed.with_suffix(".json") if installed else None
            if json_path and json_path.is_file():
                hashes = json.loads(json_path.read_text())["type_hashes"]
                rosidl = next(h["hash_string"] for h in hashes if h["type_name"] == msgtype)
                assert conn.digest == rosidl
    finally:
        reader.close()


def test_typestore_knows_the_package_and_label_constants():
    store = get_store()
    assert set(ALL_TYPES) <= set(store.fielddefs)
    label_cls = store.types[msgs.LABEL]
    assert label_cls.UNKNOWN == 255


@pytest.fixture
def class_tree(tmp_path: Path) -> Path:
    root = tmp_path / "classes"
    for idx, name in enumerate(["happy", "sad", "angry"]):
        (root / name).mkdir(parents=True)
        for j in range(2):
            cv2.imwrite(str(root / name / f"{j}.png"), _gray(40 * idx + j))
    (root / "junk").mkdir()
    cv2.imwrite(str(root / "junk" / "x.png"), _gray(7))
    (root / "sad" / "broken.png").write_bytes(b"not an image")
    return root


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_from_dataset_class_folders(tmp_path, class_tree, storage):
    out = tmp_path / "bag"
    result = convert(class_tree, out, fps=4, storage=storage, start_ns=10**9, frame_id="cam")
    assert result.frames == 6
    assert result.labels == {"anger": 2, "happy": 2, "sad": 2}
    assert sum(result.skipped.values()) == 2  # the junk folder's image and the broken file
    frames = _read_labels(out)
    stamps = [f[0] for f in frames]
    assert stamps == [10**9 + i * 250_000_000 for i in range(6)]
    assert all(img == lab for img, lab, *_ in [(f[0], f[0]) for f in frames])
    assert sorted(f[2] for f in frames) == sorted([L.HAPPY] * 2 + [L.SAD] * 2 + [L.ANGER] * 2)
    info = bag_info(out)
    assert info["storage"] == storage
    assert {t["name"]: t["count"] for t in info["topics"]} == {IMAGE_TOPIC: 6, LABEL_TOPIC: 6}
    assert info["duration_s"] == pytest.approx(1.25)
    with BagReader(out) as reader:
        _, msgtype, _, raw = next(reader.messages([IMAGE_TOPIC]))
        img = reader.deserialize(raw, msgtype)
    assert (img.width, img.height, img.encoding, img.step) == (40, 32, "bgr8", 120)
    assert img.header.frame_id == "cam"


def test_from_dataset_keeps_csv_paths_inside_the_root(tmp_path, capsys):
    root, outside = tmp_path / "data", tmp_path / "x"
    (root / "imgs").mkdir(parents=True)
    outside.mkdir()
    for folder, value in ((root / "imgs", 10), (outside, 20)):
        cv2.imwrite(str(folder / "ok.png"), _gray(value))
    (root / "imgs" / "link.png").symlink_to(outside / "ok.png")
    csv_path = root / "list.csv"
    csv_path.write_text(
        "path,label\nimgs/ok.png,happy\n../x/ok.png,sad\n"
        f"{outside / 'ok.png'},fear\nimgs/link.png,anger\nimgs/missing.png,happy\n"
    )
    result = convert(csv_path, tmp_path / "inside", start_ns=0)
    assert result.frames == 1 and result.labels == {"happy": 1}
    assert result.skipped == {"outside the dataset root": 3, "missing image": 1}
    assert "skipped: missing image 1, outside the dataset root 3" in result.summary()
    # The option lets them in (the CLI flag --allow-outside-root).
    assert (
        main(["from-dataset", str(csv_path), str(tmp_path / "all"), "--allow-outside-root"]) == 0
    )
    assert "wrote 4 frames" in capsys.readouterr().out
    labels = [f[2] for f in _read_labels(tmp_path / "all")]
    assert labels == [L.HAPPY, L.SAD, L.FEAR, L.ANGER]


def test_from_dataset_csv_ckplus_jaffe_folder_video(tmp_path):
    # CSV with a box: the box is carried into EmotionLabel.roi, scaled by --resize.
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "imgs" / f"{i}.png"), _gray(10 * i, (80, 60)))
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(
        "path,label,x1,y1,x2,y2,landmarks\nimgs/0.png,fear,8,6,48,46,\nimgs/1.png,2,,,,,\n"
        "imgs/2.png,,,,,,\n"
    )
    convert(csv_path, tmp_path / "csv_bag", start_ns=0, resize=(40, 30))
    frames = _read_labels(tmp_path / "csv_bag")
    assert [f[2] for f in frames] == [L.FEAR, L.SAD, msgs.UNKNOWN_LABEL]
    with BagReader(tmp_path / "csv_bag") as reader:
        first = next(reader.messages([LABEL_TOPIC]))
        roi = reader.deserialize(first[3], first[1]).roi
    assert (roi.x_offset, roi.y_offset, roi.width, roi.height) == (4, 3, 20, 20)

    # CK+: first frame neutral, last frame labelled (CK+ code 5 = happy).
    seq = tmp_path / "ck" / "cohn-kanade-images" / "S005" / "001"
    seq.mkdir(parents=True)
    for i in range(1, 5):
        cv2.imwrite(str(seq / f"S005_001_{i:08d}.png"), _gray(i))
    emo = tmp_path / "ck" / "Emotion" / "S005" / "001"
    emo.mkdir(parents=True)
    (emo / "S005_001_00000004_emotion.txt").write_text("   5.0000000e+00\n")
    result = convert(tmp_path / "ck", tmp_path / "ck_bag", start_ns=0)
    assert result.labels == {"happy": 1, "neutral": 1}

    # JAFFE: label from the file name.
    jaffe = tmp_path / "jaffe"
    jaffe.mkdir()
    cv2.imwrite(str(jaffe / "KA.AN1.39.tiff"), _gray(3))
    cv2.imwrite(str(jaffe / "KM.SU2.12.tiff"), _gray(4))
    result = convert(jaffe, tmp_path / "jaffe_bag", start_ns=0)
    assert result.labels == {"anger": 1, "surprise": 1}

    # Plain folder, one label for all.
    result = convert(tmp_path / "imgs", tmp_path / "f_bag", label="sad", fmt="folder", start_ns=0)
    assert result.labels == {"sad": 3}

    # Video at its own frame rate, mono8 output.
    video = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 8.0, (64, 48))
    for i in range(5):
        vw.write(_gray(50 * i, (64, 48)))
    vw.release()
    result = convert(video, tmp_path / "v_bag", start_ns=0, encoding="mono8")
    assert result.frames == 5 and result.fps == pytest.approx(8.0)
    frames = _read_labels(tmp_path / "v_bag")
    assert [f[0] for f in frames] == [i * 125_000_000 for i in range(5)]


def test_from_dataset_bad_sources(tmp_path, class_tree):
    with pytest.raises(BagError, match="no such file"):
        convert(tmp_path / "missing", tmp_path / "a")
    with pytest.raises(BagError, match="exists already"):
        convert(class_tree, class_tree)
    with pytest.raises(BagError, match="unknown label"):
        convert(class_tree, tmp_path / "b", fmt="folder", label="bored")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BagError, match="no images"):
        convert(empty, tmp_path / "c")
    assert main(["from-dataset", str(class_tree), str(tmp_path / "d"), "--resize", "4by3"]) == 1
    assert main(["from-dataset", str(class_tree), str(tmp_path / "e"), "--fps", "30"]) == 0
    assert bag_info(tmp_path / "e")["duration_s"] == pytest.approx(5 / 30, abs=1e-6)


def _write_raw_bag(
    path: Path, storage: str, conns: list[tuple[str, str, str, str, bytes]]
) -> None:
    writer = Writer(path, version=9, storage_plugin=StoragePlugin[storage.upper()])
    writer.open()
    for topic, msgtype, msgdef, digest, raw in conns:
        conn = writer.add_connection(topic, msgtype, msgdef=msgdef, rihs01=digest)
        writer.write(conn, 5, raw)
    writer.close()


def test_bad_bags_give_one_line_errors(tmp_path, class_tree, capsys):
    # Not a bag, missing bag.
    assert main(["info", str(tmp_path / "nope")]) == 1
    assert main(["info", str(class_tree)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no such bag" in err[0] and "no metadata.yaml" in err[1]
    assert "Traceback" not in "".join(err)

    # Truncated mcap and sqlite3 storage files.
    for storage in ("mcap", "sqlite3"):
        bag = tmp_path / f"trunc_{storage}"
        convert(class_tree, bag, storage=storage, start_ns=0)
        (data,) = [p for p in bag.iterdir() if p.suffix in (".mcap", ".db3")]
        blob = data.read_bytes()
        data.write_bytes(blob[: len(blob) // 2])
        problem = r"corrupt or truncated|truncated or corrupt|not closed"
        with pytest.raises(BagError, match=problem), BagReader(bag) as reader:
            list(reader.messages())
    capsys.readouterr()

    # Corrupt metadata.yaml.
    bag = tmp_path / "meta"
    convert(class_tree, bag, start_ns=0)
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 9}\n")
    assert main(["info", str(bag)]) == 1
    assert "metadata key is missing" in capsys.readouterr().err


def test_empty_unknown_and_foreign_hash_bags(tmp_path, capsys):
    empty = tmp_path / "empty"
    with BagWriter(empty) as writer:
        writer.add_topic(IMAGE_TOPIC, msgs.IMAGE)
    info = bag_info(empty)
    assert info["messages"] == 0 and info["topics"][0]["count"] == 0
    with BagReader(empty) as reader, pytest.raises(BagError, match="has no messages"):
        reader.require_topic(IMAGE_TOPIC)
    with BagReader(empty) as reader, pytest.raises(BagError, match="no topic /cabin/emotion"):
        reader.require_topic("/cabin/emotion")

    odd = tmp_path / "odd"
    point = b"\x00\x01\x00\x00" + np.zeros(3, "<f8").tobytes()
    _write_raw_bag(
        odd,
        "mcap",
        [
            ("/x", "foo_msgs/msg/Bar", "", "RIHS01_" + "0" * 64, b"\x00\x01\x00\x00"),
            (
                "/y",
                "foo_msgs/msg/Baz",
                "int32 a\n",
                "RIHS01_" + "2" * 64,
                b"\x00\x01\x00\x00\x07\x00\x00\x00",
            ),
            (
                "/p",
                "emotionaldan_msgs/msg/Point2D",
                "float64 x\nfloat64 y\nfloat64 z\n",
                "RIHS01_" + "1" * 64,
                point,
            ),
        ],
    )
    info = bag_info(odd)
    status = {t["name"]: t["status"] for t in info["topics"]}
    assert status == {"/x": "unknown", "/y": "foreign", "/p": "mismatch"}
    assert len(info["warnings"]) == 3
    assert main(["info", str(odd)]) == 0  # warnings, not errors
    out = capsys.readouterr().out
    assert "unknown message type foo_msgs/msg/Bar (1 messages" in out
    with BagReader(odd) as reader:
        # The bag's own (other-version) definition decodes its data.
        ((_, msgtype, _, raw),) = reader.messages(["/p"])
        assert reader.deserialize(raw, msgtype).z == 0.0
        with pytest.raises(BagError, match="unknown message type"):
            reader.deserialize(b"\x00\x01\x00\x00", "foo_msgs/msg/Bar")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_split_by_duration_makes_one_bag_of_several_files(tmp_path, storage):
    bag = tmp_path / "split"
    with BagWriter(bag, storage=storage, split_seconds=0.25) as writer:
        writer.add_topic(LABEL_TOPIC, msgs.LABEL)
        for i in range(10):  # 0.1 s apart → files start at 0, 0.3, 0.6, 0.9 s
            t = 10**9 + i * 10**8
            writer.write(LABEL_TOPIC, t, msgs.label(i % 7, t, "cam"))
    info = bag_info(bag)
    assert info["files"] == [
        f"split_{i}.{'mcap' if storage == 'mcap' else 'db3'}" for i in range(4)
    ]
    assert info["messages"] == 10 and info["topics"][0]["count"] == 10
    assert info["duration_s"] == pytest.approx(0.9)
    frames = []
    with BagReader(bag) as reader:
        for _, msgtype, t_ns, raw in reader.messages():
            frames.append((t_ns, reader.deserialize(raw, msgtype).label))
    assert frames == [(10**9 + i * 10**8, i % 7) for i in range(10)]
