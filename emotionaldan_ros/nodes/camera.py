"""Camera node: publishes frames of a device, video, image folder or the bundled demo footage."""

from __future__ import annotations

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from emotionaldan_ros.core.camera_info import Calibration, load_calibration, uncalibrated
from emotionaldan_ros.core.image_codec import numpy_to_image
from emotionaldan_ros.core.sources import FrameSource, SourceError, open_source
from emotionaldan_ros.nodes.calibration import (
    camera_info_msg,
    link_to_optical_transform,
    publish_static_transform,
)
from emotionaldan_ros.nodes.common import (
    FRAME_PUB_QOS,
    Diagnostics,
    Stats,
    bgr_to_compressed_msg,
    bgr_to_image_msg,
    declare_params,
)
from emotionaldan_ros.nodes.runtime import run_single
from emotionaldan_ros.params import ParamSpec

DEFAULT_FPS = 15.0  # for sources that do not know their rate

PARAMS = (
    ParamSpec(
        "source",
        "auto",
        "Frame source: 'auto' (camera 0 if present, else demo), a V4L2 index or /dev/video* "
        "path, a video file, an image folder or glob, or 'demo' (bundled footage)",
        read_only=True,
    ),
    ParamSpec(
        "fps",
        0.0,
        "Publish rate in frames per second; 0 = the source's own rate (15 when it has none)",
        range=(0.0, 120.0),
    ),
    ParamSpec("loop", False, "Restart files / folders / demo at their end", read_only=True),
    ParamSpec("width", 0, "Resize frames to this width (0 = native)", range=(0, 7680)),
    ParamSpec("height", 0, "Resize frames to this height (0 = native)", range=(0, 4320)),
    ParamSpec(
        "frame_id",
        "cabin_camera_optical_frame",
        "frame_id of every image and CameraInfo: the camera's optical frame (REP-103: z forward, "
        "x right, y down)",
    ),
    ParamSpec(
        "camera_info_url",
        "",
        "Calibration file in the camera_calibration_parsers YAML format (path or file:// URL); "
        "'' = uncalibrated pinhole guess (focal length = image width, no distortion)",
        read_only=True,
    ),
    ParamSpec(
        "publish_tf",
        False,
        "Publish the static transform parent_frame_id -> frame_id (rotation only) on /tf_static; "
        "needs tf2_msgs (a ROS install)",
        read_only=True,
    ),
    ParamSpec(
        "publish_compressed",
        False,
        "Also publish camera/image_raw/compressed (sensor_msgs/CompressedImage, image_transport's "
        "naming)",
        read_only=True,
    ),
    ParamSpec(
        "compressed_format",
        "jpeg",
        "Format of camera/image_raw/compressed",
        choices=("jpeg", "png"),
    ),
    ParamSpec("jpeg_quality", 90, "JPEG quality of camera/image_raw/compressed", range=(1, 100)),
    ParamSpec(
        "parent_frame_id",
        "cabin_camera_link",
        "Body frame of the camera (x forward, z up) for publish_tf",
        read_only=True,
    ),
    ParamSpec(
        "encoding",
        "bgr8",
        "Published encoding: bgr8, or mono8 (gray, as an infrared cabin camera gives; to try "
        "the graph on IR-like input)",
        choices=("bgr8", "mono8"),
    ),
)


def _size(p: dict) -> tuple[int, int] | None:
    """(width, height) to resize to, or None (native) unless both are set."""
    return (p["width"], p["height"]) if p["width"] and p["height"] else None


def open_with_fallback(spec: str, loop: bool, size: tuple[int, int] | None) -> FrameSource:
    """Open `spec`; 'auto' means camera 0 when one is present, else the demo footage."""
    if spec != "auto":
        return open_source(spec, loop=loop, size=size)
    try:
        return open_source("0", loop=loop, size=size)
    except SourceError:
        return open_source("demo", loop=loop, size=size)


def mono8_message(bgr: np.ndarray, header: Header) -> Image:
    """A BGR frame as a mono8 Image (OpenCV's luma weights), as a gray / IR camera sends."""
    fields = numpy_to_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), "mono8")
    msg = Image()
    msg.header = header
    msg.height, msg.width = fields.height, fields.width
    msg.encoding, msg.is_bigendian, msg.step = fields.encoding, fields.is_bigendian, fields.step
    msg.data = fields.data
    return msg


class CameraNode(Node):
    """Publishes `camera/image_raw` (bgr8 or mono8) and `camera/camera_info` at a fixed rate."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("camera", **kwargs)
        self.stats = Stats()
        self.diagnostics = Diagnostics(self, self.stats)
        self.params = p = declare_params(self, PARAMS)
        size = _size(p)
        # A missing device or unreadable file ends start-up with a clear message.
        self.source = open_with_fallback(p["source"], p["loop"], size)
        self.frame_id = p["frame_id"]
        self.calibration = load_calibration(p["camera_info_url"]) if p["camera_info_url"] else None
        self._infos: dict[tuple[int, int], Calibration] = {}
        self.tf_pub = (
            publish_static_transform(self, p["parent_frame_id"], p["frame_id"])
            if p["publish_tf"]
            else None
        )
        self.finished = False
        self.published = 0
        self.image_pub = self.create_publisher(Image, "camera/image_raw", FRAME_PUB_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", FRAME_PUB_QOS)
        self.compressed_pub = (
            self.create_publisher(CompressedImage, "camera/image_raw/compressed", FRAME_PUB_QOS)
            if p["publish_compressed"]
            else None
        )
        fps = self._fps()
        self.timer = self.create_timer(1.0 / fps, self.timer_callback)
        self.params.on_change(self._params_changed)
        self.get_logger().info(f"publishing {self.source.name} at {fps:.1f} fps")

    def _fps(self) -> float:
        return self.params["fps"] or self.source.fps or DEFAULT_FPS

    def _params_changed(self, names: set[str]) -> None:
        """Apply run-time changes (validated already): rate, frame size, frame id."""
        if "fps" in names and not self.finished:  # a new period: a new timer
            self.timer.cancel()
            self.destroy_timer(self.timer)
            self.timer = self.create_timer(1.0 / self._fps(), self.timer_callback)
        if names & {"width", "height"}:
            self.source.size = _size(self.params)  # frames are resized from the next one on
        if "frame_id" in names:
            self.frame_id = self.params["frame_id"]
            if self.tf_pub is not None:  # re-latch the transform to the new optical frame
                transform = link_to_optical_transform(
                    self, self.params["parent_frame_id"], self.frame_id
                )
                self.tf_pub.publish(self.tf_pub.msg_type(transforms=[transform]))

    def timer_callback(self) -> None:
        """Publish the next frame, or stop cleanly at the end of the stream."""
        try:
            frame = next(self.source)
        except StopIteration:
            self.end_of_stream()
            return
        except SourceError as exc:
            self.stats.count("errors")
            self.get_logger().error(f"camera read failed: {exc}")
            self.end_of_stream()
            return
        if self.params["encoding"] == "mono8":
            image = mono8_message(frame, self._header())
        else:
            image = bgr_to_image_msg(frame, self._header())
        info = camera_info_msg(self._calibration(image.width, image.height), image.header)
        self.image_pub.publish(image)
        if self.compressed_pub is not None:
            fmt, quality = self.get_parameter("compressed_format").value, self._jpeg_quality()
            self.compressed_pub.publish(bgr_to_compressed_msg(frame, image.header, fmt, quality))
        self.info_pub.publish(info)
        self.published += 1
        self.stats.count("published")

    def _jpeg_quality(self) -> int:
        return int(self.get_parameter("jpeg_quality").value)  # may change at run time

    def _calibration(self, width: int, height: int) -> Calibration:
        """Intrinsics at this frame size: the calibration file's (scaled) or the guess."""
        calib = self._infos.get((width, height))
        if calib is None:
            if self.calibration is None:
                calib = uncalibrated(width, height)
            else:
                calib = self.calibration.scaled(width, height)
                if calib is not self.calibration:
                    self.get_logger().warning(
                        f"calibration is for {self.calibration.width}x"
                        f"{self.calibration.height}, frames are {width}x{height}: intrinsics "
                        "scaled"
                    )
            self._infos[(width, height)] = calib
        return calib

    def end_of_stream(self) -> None:
        """Stop publishing and release the source."""
        if not self.finished:
            self.timer.cancel()
            self.source.close()
            self.diagnostics.state = "end of stream"
            skipped = getattr(self.source, "skipped", 0)
            self.get_logger().info(
                f"end of stream after {self.published} frames ({skipped} unreadable skipped)"
            )
            self.finished = True  # last: a runner may stop the graph as soon as it sees this

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)


def main(args: list[str] | None = None) -> None:
    """Run the camera node until the stream ends or Ctrl-C."""
    run_single(CameraNode, args, done=lambda node: node.finished)


if __name__ == "__main__":
    main()
