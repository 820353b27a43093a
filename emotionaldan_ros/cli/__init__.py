"""Command-line tools (ROS-free unless stated)."""
