"""A mono8 (gray, IR-like) camera through the whole graph: detector and recogniser on gray."""

import re

import pytest
from test_graph_cabin import cabin

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_mono8_camera_runs_through_the_graph():
    # 5 fps leaves the 2-core CI machine time to process most frames with the real models.
    proc = cabin(
        "--source", "demo", "--set", "camera.fps=5.0", "--set", "camera.encoding=mono8", "--quiet"
    )
    log, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, log
    frames = int(re.search(r"frames processed: (\d+)", log).group(1))
    faces = int(re.search(r"faces: (\d+)", log).group(1))
    assert frames >= 20, log
    # The demo footage has a face in most frames: the gray frames must not lose them.
    assert faces >= frames // 2, log
    assert re.search(r"emotions: \w+ \d+", log), log
    for node in ("camera", "face_detector", "emotionaldan"):
        assert re.search(rf"/cabin/{node}: dropped \d+, errors 0", log), log
