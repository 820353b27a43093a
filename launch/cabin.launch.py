"""Launch the cabin graph on a ROS 2 install: `ros2 launch emotionaldan_ros cabin.launch.py`.

A thin wrapper: the node list comes from `emotionaldan_ros.graph.CABIN_NODES` and the parameters
from the same YAML file as `emotionaldan-cabin`. Arguments:

    source:=demo|auto|0|/dev/video0|video.mp4|folder   camera source ('' = from params_file)
    backend:=faceapi|checkpoint:/path/model.pt          recogniser ('' = from params_file)
    detector:=haar|faceapi_tiny|faceapi_ssd             face detector ('' = from params_file)
    params_file:=/path/cabin.yaml                       parameters (default: the shipped one)
    namespace:=/cabin                                   one namespace per camera in the car
    camera:=true|false                                  false when a bag player feeds images
    use_sim_time:=false|true                            follow /clock (a bag played with --clock)
    hri:=false|true                                     also publish ROS4HRI /humans/faces/* topics

Works on Humble, Jazzy and Kilted: lifecycle nodes are brought to `active` by
`emotionaldan_ros.launching.lifecycle_node_actions` (`LifecycleNode(autostart=True)` where
launch_ros has it, configure/activate event handlers where it does not).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from emotionaldan_ros.graph import (
    DEFAULT_NAMESPACE,
    HRI_BRIDGE,
    PACKAGE,
    cabin_nodes,
    code_execution_problem,
    default_config,
)
from emotionaldan_ros.launching import lifecycle_node_actions
from emotionaldan_ros.rosenv import FASTDDS_PROFILE

# Launch argument -> (node, parameter) it overrides when not empty.
SHORTCUTS = {
    "source": ("camera", "source"),
    "backend": ("emotionaldan", "backend"),
    "detector": ("face_detector", "detector"),
}


def _nodes(context, *args, **kwargs):
    value = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    flag = lambda name: value(name).lower() in ("true", "1", "yes")  # noqa: E731
    actions = []
    for spec in cabin_nodes(camera=flag("camera")):
        params = [value("params_file"), {"use_sim_time": flag("use_sim_time")}]
        if spec.lifecycle:  # launch drives the transitions (see below), not the node itself
            params.append({"autostart": False})
        for arg, (node, param) in SHORTCUTS.items():
            if node == spec.name and value(arg):
                problem = code_execution_problem(node, param, value(arg))
                if problem:  # python: backends run code: from the params file only
                    raise ValueError(f"launch argument {arg}:={value(arg)}: {problem}")
                params.append({param: value(arg)})
        common = dict(
            package=PACKAGE,
            executable=spec.executable,
            name=spec.name,
            namespace=value("namespace"),
            parameters=params,
            output="screen",
        )
        if spec.lifecycle:
            actions += lifecycle_node_actions(**common)
        else:
            actions.append(Node(**common))
    if flag("hri"):  # optional ROS4HRI output (needs hri_msgs)
        actions.append(
            Node(
                package=PACKAGE,
                executable=HRI_BRIDGE.executable,
                name=HRI_BRIDGE.name,
                namespace=value("namespace"),
                parameters=[{"use_sim_time": flag("use_sim_time")}],
                output="screen",
            )
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
        DeclareLaunchArgument(
            "hri",
            default_value="false",
            description="also run the ROS4HRI bridge (/humans/faces/*; needs hri_msgs)",
        ),
        DeclareLaunchArgument(
            "use_sim_time",
            default_value="false",
            description="nodes follow /clock (replaying a bag with emotionaldan-bag play --clock)",
        ),
    ]
    return LaunchDescription([*env, *arguments, OpaqueFunction(function=_nodes)])
