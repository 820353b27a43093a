"""ament_python package emotionaldan_ros (also installable with pip: `pip install -e .`)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "emotionaldan_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["assets/**/*", "models/**/*"]},
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    python_requires=">=3.10",
    zip_safe=False,
    maintainer="emotionaldan-ros developers",
    maintainer_email="dev@emotionaldan-ros.invalid",
    description="Cabin passenger emotion perception for ROS 2 with EmotionalDAN.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            # Nodes (`ros2 run emotionaldan_ros <name>` on a real ROS install).
            "camera_node = emotionaldan_ros.nodes.camera:main",
            "face_detector_node = emotionaldan_ros.nodes.face_detector:main",
            "emotionaldan_node = emotionaldan_ros.nodes.emotionaldan:main",
            "fear_monitor_node = emotionaldan_ros.nodes.fear_monitor:main",
            "example_planner = emotionaldan_ros.nodes.example_planner:main",
            "hri_bridge_node = emotionaldan_ros.nodes.hri_bridge:main",
            # The whole graph on pip-installed rclpy (no `launch` needed).
            "emotionaldan-cabin = emotionaldan_ros.cabin:main",
            # ROS-free tools.
            "emotionaldan-train = emotionaldan_ros.cli.train:main",
            "emotionaldan-eval = emotionaldan_ros.cli.evaluate:main",
            "emotionaldan-export = emotionaldan_ros.cli.export:main",
            "emotionaldan-analyze = emotionaldan_ros.cli.analyze:main",
            "emotionaldan-convert-faceapi = emotionaldan_ros.cli.convert_faceapi:main",
            "emotionaldan-convert-blazeface = "
            "emotionaldan_ros.core.detection.blazeface_convert:main",
            "emotionaldan-bag = emotionaldan_ros.bag.cli:main",
            "emotionaldan-distill = emotionaldan_ros.cli.distill:main",
            "emotionaldan-cache = emotionaldan_ros.cli.cache:main",
        ],
    },
)
