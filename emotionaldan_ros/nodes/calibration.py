"""CameraInfo messages and the camera's static transform (the ROS side of core/camera_info)."""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from emotionaldan_ros.core.camera_info import LINK_TO_OPTICAL_QUATERNION, Calibration

# What tf2_ros' StaticTransformBroadcaster uses: late joiners get the transform.
TF_STATIC_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def camera_info_msg(calib: Calibration, header: Header) -> CameraInfo:
    """A CameraInfo with the image's header (frame_id = the optical frame)."""
    return CameraInfo(
        header=header,
        height=calib.height,
        width=calib.width,
        distortion_model=calib.distortion_model,
        d=list(calib.d),
        k=list(calib.k),
        r=list(calib.r),
        p=list(calib.p),
    )


def link_to_optical_transform(node: Node, parent: str, child: str) -> Any:
    """geometry_msgs/TransformStamped from the camera link to its optical frame (no offset)."""
    from geometry_msgs.msg import TransformStamped

    tf = TransformStamped()
    tf.header.stamp = node.get_clock().now().to_msg()
    tf.header.frame_id, tf.child_frame_id = parent, child
    q = tf.transform.rotation
    q.x, q.y, q.z, q.w = LINK_TO_OPTICAL_QUATERNION
    return tf


def publish_static_transform(node: Node, parent: str, child: str) -> Any:
    """Latch the link → optical transform on /tf_static.

    Returns:
        The publisher (keep it: late joiners get the transform from it), or None when
        `tf2_msgs` is missing: it is part of every ROS install but not on PyPI, so pip-only set-ups
        log why the transform is not published instead of failing.
    """
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        node.get_logger().warning(
            "publish_tf: tf2_msgs is not installed (it comes with a ROS install, not with pip); "
            f"no {parent} -> {child} transform is published"
        )
        return None
    pub = node.create_publisher(TFMessage, "/tf_static", TF_STATIC_QOS)
    pub.publish(TFMessage(transforms=[link_to_optical_transform(node, parent, child)]))
    return pub
