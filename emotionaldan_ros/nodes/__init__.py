"""Thin rclpy nodes over emotionaldan_ros.core."""
