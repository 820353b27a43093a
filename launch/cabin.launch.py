"""Launch the cabin graph on a ROS 2 install: `ros2 launch emotionaldan_ros cabin.launch.py`.

A thin wrapper: the node list comes from `emotionaldan_ros.graph.CABIN_NODES` and the parameters
from the same YAML file as `emotionaldan-cabin`. Arguments:

    source:=demo|auto|0|/dev/video0|video.mp4|folder   camera source ('' = from params_file)
    backend:=faceapi|checkpoint:/path/model.pt          recogniser ('' = from params_file)
    detector:=haar|faceapi_tiny|faceapi_ssd             face detector ('' = from params_file)
    params_file:=/path/cabin.yaml                       parameters (default: the shipped one)
    namespace:=/cabin                                   one namespace per camera in the car
    camera:=true|false                                  false when a bag player feeds images
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from emotionaldan_ros.graph import DEFAULT_NAMESPACE, PACKAGE, cabin_nodes, default_config
from emotionaldan_ros.rosenv import FASTDDS_PROFILE

# Launch argument -> (node, parameter) it overrides when not empty.
SHORTCUTS = {
    "source": ("camera", "source"),
    "backend": ("emotionaldan", "backend"),
    "detector": ("face_detector", "detector"),
}


def _nodes(context, *args, **kwargs):
    value = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    camera = value("camera").lower() in ("true", "1", "yes")
    actions = []
    for spec in cabin_nodes(camera=camera):
        params = [value("params_file")]
        if spec.lifecycle:  # launch drives the transitions (autostart below), not the node
            params.append({"autostart": False})
        params += [
            {param: value(arg)}
            for arg, (node, param) in SHORTCUTS.items()
            if node == spec.name and value(arg)
        ]
        common = dict(
            package=PACKAGE,
            executable=spec.executable,
            name=spec.name,
            namespace=value("namespace"),
            parameters=params,
            output="screen",
        )
        actions.append(
            LifecycleNode(autostart=True, **common) if spec.lifecycle else Node(**common)
        )
    return actions


def generate_launch_description():
    env = []
    if not os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        env.append(SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", str(FASTDDS_PROFILE)))
    if not os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE"):
        env.append(SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"))
    arguments = [
        DeclareLaunchArgument("source", default_value="", description="camera source"),
        DeclareLaunchArgument("backend", default_value="", description="emotion recogniser"),
        DeclareLaunchArgument("detector", default_value="", description="face detector"),
        DeclareLaunchArgument(
            "params_file", default_value=str(default_config()), description="parameters YAML"
        ),
        DeclareLaunchArgument(
            "namespace", default_value=DEFAULT_NAMESPACE, description="graph namespace"
        ),
        DeclareLaunchArgument("camera", default_value="true", description="start the camera node"),
    ]
    return LaunchDescription([*env, *arguments, OpaqueFunction(function=_nodes)])
