"""CameraInfo: a valid uncalibrated guess, calibration files, the optical frame and its TF."""

from __future__ import annotations

import numpy as np
import pytest

from emotionaldan_ros.core.camera_info import (
    LINK_TO_OPTICAL_QUATERNION,
    CalibrationError,
    load_calibration,
    uncalibrated,
)

CALIBRATION = """\
image_width: 640
image_height: 480
camera_name: cabin
camera_matrix:
  rows: 3
  cols: 3
  data: [500.5, 0, 321.25, 0, 502.0, 239.5, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [-0.2, 0.05, 0.001, -0.002, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [480.0, 0, 320.0, 0, 0, 490.0, 240.0, 0, 0, 0, 1, 0]
"""


def test_uncalibrated_camera_info_is_valid():
    calib = uncalibrated(640, 480)
    k, p = np.reshape(calib.k, (3, 3)), np.reshape(calib.p, (3, 4))
    assert np.array_equal(np.reshape(calib.r, (3, 3)), np.eye(3))  # was all zeros
    assert np.array_equal(p[:, :3], k) and not p[:, 3].any()  # P = [K | 0]
    assert calib.distortion_model == "plumb_bob" and calib.d == (0.0,) * 5  # D was empty
    assert (k[0, 2], k[1, 2]) == (320.0, 240.0) and not calib.calibrated


def test_calibration_file_is_read_and_scaled(tmp_path):
    path = tmp_path / "cabin.yaml"
    path.write_text(CALIBRATION)
    calib = load_calibration(f"file://{path}")
    assert calib.k[0] == 500.5 and calib.d[0] == -0.2 and calib.p[5] == 490.0
    assert calib.camera_name == "cabin" and calib.calibrated
    assert load_calibration(str(path)) == calib
    half = calib.scaled(320, 240)
    assert half.k[0] == 250.25 and half.k[5] == 119.75 and half.p[2] == 160.0
    assert half.d == calib.d and calib.scaled(640, 480) is calib


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("rows: 1\n  cols: 5", "rows: 1\n  cols: 4"), "has 5 values"),
        (lambda t: t.replace("image_width: 640\n", ""), "image_width and image_height"),
        (
            lambda t: t.replace("data: [-0.2, 0.05, 0.001, -0.002, 0.0]", "data: [0.1]").replace(
                "cols: 5", "cols: 1"
            ),
            "plumb_bob needs 5",
        ),
        (lambda t: t.replace("500.5", "-1"), "focal lengths must be positive"),
        (lambda t: "- not a mapping\n", "not a camera calibration file"),
    ],
)
def test_bad_calibration_files_are_named(tmp_path, edit, message):
    path = tmp_path / "bad.yaml"
    path.write_text(edit(CALIBRATION))
    with pytest.raises(CalibrationError, match=message):
        load_calibration(str(path))
    with pytest.raises(CalibrationError, match="cannot read"):
        load_calibration(str(tmp_path / "missing.yaml"))
    with pytest.raises(CalibrationError, match="only file://"):
        load_calibration("package://cabin/calib.yaml")


def test_link_to_optical_rotation_follows_rep103():
    # Rotating the optical axes by q must give the body-frame axes: z_opt = x_link (forward),
    # x_opt = -y_link (right), y_opt = -z_link (down).
    x, y, z, w = LINK_TO_OPTICAL_QUATERNION
    rot = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )
    assert np.allclose(rot @ [0, 0, 1], [1, 0, 0])
    assert np.allclose(rot @ [1, 0, 0], [0, -1, 0])
    assert np.allclose(rot @ [0, 1, 0], [0, 0, -1])


rclpy = pytest.importorskip("rclpy")


@pytest.mark.ros
def test_camera_node_publishes_calibration_in_the_optical_frame(tmp_path):
    import cv2
    from rclpy.parameter import Parameter
    from rosutil import RosHarness
    from sensor_msgs.msg import CameraInfo

    from emotionaldan_ros.nodes.camera import CameraNode
    from emotionaldan_ros.nodes.common import FRAME_PUB_QOS

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), np.zeros((240, 320, 3), np.uint8))
    calib = tmp_path / "cabin.yaml"
    calib.write_text(CALIBRATION)
    with RosHarness() as ros:
        infos = ros.collect(CameraInfo, "/cabin/camera/camera_info", FRAME_PUB_QOS)
        params = [
            Parameter("source", value=str(folder)),
            Parameter("fps", value=20.0),
            Parameter("camera_info_url", value=f"file://{calib}"),
            Parameter("publish_tf", value=True),
        ]
        cam = ros.add(
            CameraNode(context=ros.context, namespace="/cabin", parameter_overrides=params)
        )
        assert ros.spin_until(lambda: len(infos) == 2, timeout=10)
    info = infos[0]
    assert info.header.frame_id == "cabin_camera_optical_frame"
    assert (info.width, info.height) == (320, 240)  # frames are half the calibrated size
    assert info.k[0] == pytest.approx(250.25) and list(info.d)[:2] == pytest.approx([-0.2, 0.05])
    assert list(info.r) == [1, 0, 0, 0, 1, 0, 0, 0, 1] and info.p[0] == pytest.approx(240.0)
    try:
        import tf2_msgs  # noqa: F401
    except ImportError:  # pip-only: the transform is skipped with a warning, the node runs
        assert cam.tf_pub is None
    else:
        assert cam.tf_pub is not None


@pytest.mark.ros
def test_camera_node_refuses_a_bad_calibration_file(tmp_path):
    from rclpy.parameter import Parameter
    from rosutil import RosHarness

    from emotionaldan_ros.nodes.camera import CameraNode

    with RosHarness() as ros, pytest.raises(CalibrationError, match="cannot read"):
        CameraNode(
            context=ros.context,
            parameter_overrides=[
                Parameter("source", value="demo"),
                Parameter("camera_info_url", value=str(tmp_path / "none.yaml")),
            ],
        )
