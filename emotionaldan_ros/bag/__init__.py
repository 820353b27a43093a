"""Rosbag2 record / play / evaluation tools built on `rosbags`."""
