"""Training side of emotionaldan-ros: teachers, the face cache, the training loop, checkpoints.

ROS-free like `core`; inference code never imports it. Entry points: `emotionaldan-cache`
(`training.cache`), `emotionaldan-train` (`training.train`), `emotionaldan-eval`.
"""
