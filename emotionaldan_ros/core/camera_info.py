"""Camera intrinsics for `sensor_msgs/CameraInfo`: calibration files and an uncalibrated guess.

Calibration files use the YAML layout of ROS' `camera_calibration_parsers` (what the
`camera_calibration` tool writes and `camera_info_manager` reads)::

    image_width: 640
    image_height: 480
    camera_name: cabin
    camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
    distortion_model: plumb_bob
    distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, t1, t2, k3]}
    rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
    projection_matrix: {rows: 3, cols: 4, data: [fx', 0, cx', Tx, 0, fy', cy', Ty, 0, 0, 1, 0]}

Without a file the camera is described as an ideal, uncalibrated pinhole: focal length = image
width (about a 53° horizontal field of view), principal point at the centre, no distortion
(`plumb_bob` with five zeros), R = identity and P = [K | 0], which is what a monocular camera
with no calibration should announce (an all-zero R or P is invalid for image_geometry / RViz).
ROS-free: the camera node turns these numbers into messages.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

# Rotation from a camera's body frame (REP-103: x forward, y left, z up) to its optical frame
# (x right, y down, z forward), as a quaternion (x, y, z, w).
LINK_TO_OPTICAL_QUATERNION = (-0.5, 0.5, -0.5, 0.5)
IDENTITY_3X3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
DISTORTION_SIZES = {"plumb_bob": (5,), "rational_polynomial": (8,), "equidistant": (4,)}


class CalibrationError(ValueError):
    """A calibration file that cannot be used (the message names the file and the field)."""


@dataclass(frozen=True)
class Calibration:
    """Intrinsics of one camera at one image size (row-major matrices)."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...]
    r: tuple[float, ...]
    p: tuple[float, ...]
    distortion_model: str = "plumb_bob"
    camera_name: str = ""
    calibrated: bool = True

    def scaled(self, width: int, height: int) -> Calibration:
        """The same camera at another image size (frames resized from the calibrated size)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        k, p = list(self.k), list(self.p)
        k[0], k[2], k[4], k[5] = k[0] * sx, k[2] * sx, k[4] * sy, k[5] * sy
        p[0], p[2], p[3], p[5], p[6], p[7] = (
            p[0] * sx,
            p[2] * sx,
            p[3] * sx,
            p[5] * sy,
            p[6] * sy,
            p[7] * sy,
        )
        return replace(self, width=width, height=height, k=tuple(k), p=tuple(p))


def uncalibrated(width: int, height: int) -> Calibration:
    """An ideal pinhole guess for an uncalibrated camera (see the module docstring)."""
    f, cx, cy = float(width), width / 2.0, height / 2.0
    k = (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0)
    p = (f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0)
    return Calibration(width, height, k, (0.0,) * 5, IDENTITY_3X3, p, calibrated=False)


def _path(url: str) -> Path:
    """A file path from a `file:///path` URL or a plain path."""
    if url.startswith("file://"):
        return Path(unquote(urlparse(url).path))
    if "://" in url:
        raise CalibrationError(f"{url}: only file:// calibration URLs (or plain paths) are read")
    return Path(url).expanduser()


def _matrix(data: dict, key: str, shape: tuple[int, int] | None, where: str) -> tuple[float, ...]:
    entry = data.get(key)
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), list):
        raise CalibrationError(f"{where}: {key} must be a mapping with a data list")
    values = entry["data"]
    rows, cols = entry.get("rows"), entry.get("cols")
    if shape is not None and (rows, cols) != shape:
        raise CalibrationError(f"{where}: {key} must be {shape[0]}x{shape[1]}, got {rows}x{cols}")
    if not isinstance(rows, int) or not isinstance(cols, int) or len(values) != rows * cols:
        raise CalibrationError(f"{where}: {key} has {len(values)} values for {rows}x{cols}")
    try:
        return tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise CalibrationError(f"{where}: {key} holds a value that is not a number") from None


def load_calibration(url: str) -> Calibration:
    """Read a `camera_calibration_parsers` YAML file (plain path or file:// URL).

    Raises:
        CalibrationError: missing file, bad YAML or a field of the wrong shape.
    """
    path = _path(url)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise CalibrationError(f"{where}: cannot read the calibration file ({exc})") from None
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{where}: not YAML ({exc})") from None
    if not isinstance(data, dict):
        raise CalibrationError(f"{where}: not a camera calibration file")
    try:
        width, height = int(data["image_width"]), int(data["image_height"])
    except (KeyError, TypeError, ValueError):
        raise CalibrationError(f"{where}: image_width and image_height are required") from None
    if width <= 0 or height <= 0:
        raise CalibrationError(f"{where}: image size must be positive, got {width}x{height}")
    model = str(data.get("distortion_model", "plumb_bob"))
    d = _matrix(data, "distortion_coefficients", None, where)
    if model in DISTORTION_SIZES and len(d) not in DISTORTION_SIZES[model]:
        raise CalibrationError(f"{where}: {model} needs {DISTORTION_SIZES[model][0]} coefficients")
    k = _matrix(data, "camera_matrix", (3, 3), where)
    r = IDENTITY_3X3
    if "rectification_matrix" in data:
        r = _matrix(data, "rectification_matrix", (3, 3), where)
    if "projection_matrix" in data:
        p = _matrix(data, "projection_matrix", (3, 4), where)
    else:  # monocular: P = [K | 0]
        p = (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)
    if k[0] <= 0 or k[4] <= 0:
        raise CalibrationError(f"{where}: camera_matrix focal lengths must be positive")
    return Calibration(width, height, k, d, r, p, model, str(data.get("camera_name", "")))
