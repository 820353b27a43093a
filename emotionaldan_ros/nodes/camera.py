"""Camera node: publishes frames of a device, video, image folder or the bundled demo footage."""

from __future__ import annotations

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from emotionaldan_ros.core.image_codec import numpy_to_image
from emotionaldan_ros.core.sources import FrameSource, SourceError, open_source
from emotionaldan_ros.nodes.common import (
    FRAME_PUB_QOS,
    Diagnostics,
    Stats,
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
    ParamSpec("frame_id", "cabin_camera", "frame_id written into every header"),
    ParamSpec(
        "encoding",
        "bgr8",
        "Published encoding: bgr8, or mono8 (gray, as an infrared cabin camera gives; to try "
        "the graph on IR-like input)",
        choices=("bgr8", "mono8"),
        read_only=True,
    ),
)


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
        p = declare_params(self, PARAMS)
        size = (p["width"], p["height"]) if p["width"] and p["height"] else None
        # A missing device or unreadable file ends start-up with a clear message.
        self.source = open_with_fallback(p["source"], p["loop"], size)
        self.frame_id = p["frame_id"]
        self.encoding = p["encoding"]
        self.finished = False
        self.published = 0
        self.image_pub = self.create_publisher(Image, "camera/image_raw", FRAME_PUB_QOS)
        self.info_pub = self.create_publisher(CameraInfo, "camera/camera_info", FRAME_PUB_QOS)
        fps = p["fps"] or self.source.fps or DEFAULT_FPS
        self.timer = self.create_timer(1.0 / fps, self.timer_callback)
        self.get_logger().info(f"publishing {self.source.name} at {fps:.1f} fps")

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
        if self.encoding == "mono8":
            image = mono8_message(frame, self._header())
        else:
            image = bgr_to_image_msg(frame, self._header())
        info = CameraInfo(header=image.header, height=image.height, width=image.width)
        # Uncalibrated pinhole guess (focal length ~ image width), enough for overlays.
        f, cx, cy = float(image.width), image.width / 2.0, image.height / 2.0
        info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
        info.distortion_model = "plumb_bob"
        self.image_pub.publish(image)
        self.info_pub.publish(info)
        self.published += 1
        self.stats.count("published")

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
