"""emotionaldan-analyze on real image files, as a user runs it (default detector and model)."""

import json

import cv2

from emotionaldan_ros.cli.analyze import main
from emotionaldan_ros.core.labels import EMOTIONS_7
from emotionaldan_ros.core.sources import demo_dir

ASTRONAUT = demo_dir() / "frame_0008.jpg"  # one smiling face
GROUP = demo_dir() / "frame_0030.jpg"  # three smiling people
NO_FACE = demo_dir() / "frame_0017.jpg"  # defocused transition frame


def test_table_json_and_overlays(tmp_path, capsys):
    out = tmp_path / "faces.json"
    code = main(
        [
            str(ASTRONAUT),
            str(GROUP),
            str(NO_FACE),
            "--json",
            str(out),
            "--overlay",
            str(tmp_path / "ov"),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "no face found" in table and "happy" in table
    data = json.loads(out.read_text())
    assert data["meta"]["classes"] == list(EMOTIONS_7)
    images = data["images"]
    (face,) = images[str(ASTRONAUT)]["faces"]
    assert face["label"] == "happy" and face["valence"] == "positive"
    assert list(face["probabilities"]) == list(EMOTIONS_7)
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-3
    assert len(face["landmarks"]) == 68
    x1, y1, x2, y2 = face["box"]
    assert all(x1 - 5 <= x <= x2 + 5 and y1 - 5 <= y <= y2 + 5 for x, y in face["landmarks"])
    assert len(images[str(GROUP)]["faces"]) >= 2
    assert images[str(NO_FACE)]["faces"] == []
    drawn = cv2.imread(str(tmp_path / "ov" / f"{ASTRONAUT.stem}_overlay.jpg"))
    assert drawn is not None and drawn.shape == cv2.imread(str(ASTRONAUT)).shape


def test_unreadable_image_is_reported_not_fatal(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code = main([str(bad), str(ASTRONAUT)])
    table = capsys.readouterr().out
    assert code == 1
    assert "cannot read image" in table and "happy" in table


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = main([str(ASTRONAUT), "--checkpoint", str(tmp_path / "none.safetensors")])
    assert code == 2
    assert "none.safetensors" in capsys.readouterr().err
