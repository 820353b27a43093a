"""emotionaldan_ros: cabin passenger emotion perception for ROS 2.

`emotionaldan_ros.core` is free of ROS imports (model, preprocessing, detectors, metrics, data,
training); `emotionaldan_ros.nodes` holds thin rclpy adapters over it.
"""

__version__ = "0.1.0"
