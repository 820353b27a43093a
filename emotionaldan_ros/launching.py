"""Launch actions for the cabin graph that work on every supported launch_ros (Humble → Kilted).

`launch_ros.actions.LifecycleNode(autostart=True)` only exists since launch_ros 0.28 (Kilted);
Humble's and Jazzy's `Node` pass unknown keywords down to `launch.Action`, which raises
"unexpected keyword argument 'autostart'". `lifecycle_node_actions` therefore detects the keyword
and, where it is missing, drives the transitions with the event-handler idiom: emit `configure`
when the process starts, `activate` when the node reaches `inactive` from `configuring`.

The `launch` / `launch_ros` modules are imported inside the functions, so importing this module
needs no ROS install (the launch file's tests replace those modules with stand-ins).
"""

from __future__ import annotations

import inspect
from typing import Any


def accepts_autostart(node_action: type) -> bool:
    """Whether a launch_ros node action class takes the `autostart` keyword (Kilted and later).

    Every `__init__` of the class hierarchy is looked at, because `LifecycleNode.__init__` only
    forwards `**kwargs` to `Node.__init__`, which is where the keyword is declared.
    """
    for cls in inspect.getmro(node_action):
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):  # a C-implemented or otherwise opaque __init__
            continue
        if "autostart" in params:
            return True
    return False


def lifecycle_node_actions(**node_kwargs: Any) -> list[Any]:
    """Actions that start a lifecycle node and bring it to `active` on any launch_ros.

    Args:
        **node_kwargs: arguments of `launch_ros.actions.LifecycleNode` (package, executable,
            name, namespace, parameters, ...), without `autostart`.

    Returns:
        `[LifecycleNode(autostart=True)]` where launch_ros supports it; otherwise two
        `RegisterEventHandler`s (configure on process start, activate on reaching inactive)
        followed by the node, so that the handlers exist before the process starts.
    """
    from launch_ros.actions import LifecycleNode

    if accepts_autostart(LifecycleNode):
        return [LifecycleNode(autostart=True, **node_kwargs)]

    import lifecycle_msgs.msg
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.event_handlers import OnProcessStart
    from launch.events import matches_action
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState

    node = LifecycleNode(**node_kwargs)
    transition = lifecycle_msgs.msg.Transition

    def change(transition_id: int) -> Any:
        return EmitEvent(
            event=ChangeState(
                lifecycle_node_matcher=matches_action(node), transition_id=transition_id
            )
        )

    configure_on_start = RegisterEventHandler(
        OnProcessStart(target_action=node, on_start=[change(transition.TRANSITION_CONFIGURE)])
    )
    # start_state: only after `configure`, not when a later `deactivate` returns to inactive.
    activate_when_configured = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[change(transition.TRANSITION_ACTIVATE)],
        )
    )
    return [configure_on_start, activate_when_configured, node]
