"""The shipped params file, the node declarations and the launch file agree."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from emotionaldan_ros.cabin import merged_params
from emotionaldan_ros.graph import CABIN_NODES, PACKAGE, cabin_nodes, default_config

ROOT = Path(__file__).resolve().parents[1]


def node_params(spec):
    return {p.name: p for p in importlib.import_module(spec.factory.split(":")[0]).PARAMS}


def section(config: dict, node: str) -> dict:
    (key,) = [k for k in config if k.rsplit("/", 1)[-1] == node]
    return config[key]["ros__parameters"]


@pytest.mark.parametrize("spec", CABIN_NODES, ids=lambda s: s.name)
def test_yaml_matches_declared_defaults(spec):
    config = yaml.safe_load(default_config().read_text())
    declared = node_params(spec)
    shipped = section(config, spec.name)
    assert set(shipped) == set(declared), "params file and node declarations differ"
    for name, value in shipped.items():
        assert value == declared[name].default, f"{spec.name}.{name}"
        assert declared[name].description


@pytest.mark.parametrize("spec", CABIN_NODES, ids=lambda s: s.name)
def test_executables_are_console_scripts(spec):
    setup = (ROOT / "setup.py").read_text()
    assert f'"{spec.executable} = {spec.factory.split(":")[0]}:main"' in setup


def test_overrides_and_errors(tmp_path):
    data = merged_params(
        default_config(),
        [
            "camera.fps=30",
            "camera.source=0",
            "camera.width=640.0",
            "emotionaldan.backend=x.pt",
            "camera.use_sim_time=true",
            "newnode.flag=true",
        ],
    )
    camera = section(data, "camera")
    # Issue 8.6: rclpy refuses an int for a double parameter ("expecting type 'DOUBLE'").
    assert camera["fps"] == 30.0 and type(camera["fps"]) is float
    assert camera["source"] == "0" and camera["width"] == 640 and type(camera["width"]) is int
    assert camera["use_sim_time"] is True
    assert section(data, "emotionaldan")["backend"] == "x.pt"
    assert section(data, "newnode")["flag"] is True  # not a graph node: passed through
    with pytest.raises(ValueError, match="expected a number"):
        merged_params(default_config(), ["camera.fps=fast"])
    with pytest.raises(ValueError, match="expected true or false"):
        merged_params(default_config(), ["camera.loop=1"])
    with pytest.raises(ValueError, match="camera has no parameter 'fsp'"):
        merged_params(default_config(), ["camera.fsp=30"])
    # python:MODULE:FACTORY runs code at start-up: a params file may name it, an override not.
    with pytest.raises(ValueError, match=r"runs Python code.*params file"):
        merged_params(default_config(), ["emotionaldan.backend=python:os:getcwd"])
    plugin = tmp_path / "plugin.yaml"
    plugin.write_text("/**/emotionaldan:\n  ros__parameters:\n    backend: python:stubs:stub\n")
    assert section(merged_params(plugin, []), "emotionaldan")["backend"] == "python:stubs:stub"
    data = merged_params(default_config(), [], use_sim_time=True)
    assert data["/**"]["ros__parameters"]["use_sim_time"] is True
    with pytest.raises(ValueError, match=r"NODE\.PARAM=VALUE"):
        merged_params(default_config(), ["fps=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="params file"):
        merged_params(bad, [])


class _Action:
    """Records the arguments a launch action was built with."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


def _node_actions(kilted: bool) -> dict[str, type]:
    """Stand-ins for launch_ros' Node / LifecycleNode with the constructor shape of a distro.

    Like the real classes, unknown keywords travel down to `launch.Action.__init__`, which
    takes none of them: so Humble's and Jazzy's shape fails on `autostart` as the real one does.
    """

    class Action:
        def __init__(self, *, condition=None):
            self.condition = condition

    class ExecuteProcess(Action):
        def __init__(self, *, output="log", **kwargs):
            super().__init__(**kwargs)

    if kilted:

        class Node(ExecuteProcess):
            def __init__(
                self,
                *,
                executable,
                package=None,
                name=None,
                namespace=None,
                parameters=None,
                autostart=False,
                **kwargs,
            ):
                self.kwargs = dict(
                    executable=executable,
                    package=package,
                    name=name,
                    namespace=namespace,
                    parameters=parameters,
                    autostart=autostart,
                    **kwargs,
                )
                super().__init__(**kwargs)
    else:

        class Node(ExecuteProcess):
            def __init__(
                self,
                *,
                executable,
                package=None,
                name=None,
                namespace=None,
                parameters=None,
                **kwargs,
            ):
                self.kwargs = dict(
                    executable=executable,
                    package=package,
                    name=name,
                    namespace=namespace,
                    parameters=parameters,
                    **kwargs,
                )
                super().__init__(**kwargs)

    class LifecycleNode(Node):
        def __init__(self, *, name, namespace, **kwargs):
            super().__init__(name=name, namespace=namespace, **kwargs)

    return {"Node": Node, "LifecycleNode": LifecycleNode}


def _fake_launch_modules(kilted: bool) -> dict[str, types.ModuleType]:
    class LaunchConfiguration:
        def __init__(self, name):
            self.name = name

        def perform(self, context):
            return context[self.name]

    mods = {
        name: types.ModuleType(name)
        for name in (
            "launch",
            "launch.actions",
            "launch.event_handlers",
            "launch.events",
            "launch.substitutions",
            "launch_ros",
            "launch_ros.actions",
            "launch_ros.event_handlers",
            "launch_ros.events",
            "launch_ros.events.lifecycle",
        )
    }
    mods["launch"].LaunchDescription = lambda entities: list(entities)
    for cls in (
        "DeclareLaunchArgument",
        "OpaqueFunction",
        "SetEnvironmentVariable",
        "EmitEvent",
        "RegisterEventHandler",
    ):
        setattr(mods["launch.actions"], cls, type(cls, (_Action,), {}))
    mods["launch.event_handlers"].OnProcessStart = type("OnProcessStart", (_Action,), {})
    mods["launch.events"].matches_action = lambda action: lambda other: other is action
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    for name, cls in _node_actions(kilted).items():
        setattr(mods["launch_ros.actions"], name, cls)
    mods["launch_ros.event_handlers"].OnStateTransition = type("OnStateTransition", (_Action,), {})
    mods["launch_ros.events.lifecycle"].ChangeState = type("ChangeState", (_Action,), {})
    return mods


def _run_launch_file(monkeypatch, overrides: dict[str, str], kilted: bool = True):
    mods = _fake_launch_modules(kilted)
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("cabin_launch", ROOT / "launch/cabin.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    entities = module.generate_launch_description()
    args = {
        e.args[0]: e.kwargs["default_value"]
        for e in entities
        if type(e).__name__ == "DeclareLaunchArgument"
    }
    context = args | overrides
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    return args, opaque.kwargs["function"](context)


def _started_nodes(actions):
    return [a for a in actions if type(a).__name__ in ("Node", "LifecycleNode")]


@pytest.mark.parametrize("kilted", [True, False], ids=["kilted", "humble_jazzy"])
def test_launch_file_starts_the_graph_nodes(monkeypatch, kilted):
    args, actions = _run_launch_file(monkeypatch, {}, kilted=kilted)
    assert {"source", "backend", "detector", "params_file", "namespace", "camera"} <= set(args)
    assert args["use_sim_time"] == "false"
    nodes = _started_nodes(actions)
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in CABIN_NODES]
    for node, spec in zip(nodes, CABIN_NODES, strict=True):
        assert node.kwargs["executable"] == spec.executable
        assert type(node).__name__ == ("LifecycleNode" if spec.lifecycle else "Node")
        assert node.kwargs["namespace"] == "/cabin"
        params = [str(default_config()), {"use_sim_time": False}]
        if spec.lifecycle:  # launch drives the transitions, so the node must not do it too
            params.append({"autostart": False})
            assert node.kwargs.get("autostart", False) is kilted
        assert node.kwargs["parameters"] == params


def test_launch_file_on_humble_and_jazzy_uses_transition_events(monkeypatch):
    """Without `autostart` the launch file emits configure on start, activate on inactive."""
    from lifecycle_msgs.msg import Transition

    _, actions = _run_launch_file(monkeypatch, {}, kilted=False)
    handlers = [a for a in actions if type(a).__name__ == "RegisterEventHandler"]
    lifecycle = [n for n in _started_nodes(actions) if type(n).__name__ == "LifecycleNode"]
    assert len(lifecycle) == 2 and len(handlers) == 4
    for node in lifecycle:
        mine = [h.args[0] for h in handlers if h.args[0].kwargs.get("target_action") is node]
        mine += [
            h.args[0] for h in handlers if h.args[0].kwargs.get("target_lifecycle_node") is node
        ]
        on_start, on_inactive = mine
        assert actions.index(node) > max(actions.index(h) for h in handlers[:2])  # handlers 1st
        (configure,) = on_start.kwargs["on_start"]
        assert configure.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_CONFIGURE
        assert configure.kwargs["event"].kwargs["lifecycle_node_matcher"](node)
        assert on_inactive.kwargs["start_state"] == "configuring"
        assert on_inactive.kwargs["goal_state"] == "inactive"
        (activate,) = on_inactive.kwargs["entities"]
        assert activate.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_ACTIVATE


def test_old_launch_ros_rejects_autostart_as_reported():
    """The stand-in reproduces the failure of issue 8.1, so the tests above mean something."""
    from emotionaldan_ros.launching import accepts_autostart

    humble, kilted = _node_actions(kilted=False), _node_actions(kilted=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'autostart'"):
        humble["LifecycleNode"](autostart=True, executable="x", name="n", namespace="/")
    assert not accepts_autostart(humble["LifecycleNode"])
    assert accepts_autostart(kilted["LifecycleNode"])


def test_launch_arguments_override_params_and_drop_camera(monkeypatch):
    _, actions = _run_launch_file(
        monkeypatch,
        {
            "camera": "false",
            "backend": "checkpoint:/m.pt",
            "namespace": "/cabin/rear",
            "use_sim_time": "true",
        },
    )
    nodes = _started_nodes(actions)
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in cabin_nodes(camera=False)]
    emo = next(n for n in nodes if n.kwargs["name"] == "emotionaldan")
    assert emo.kwargs["parameters"][-1] == {"backend": "checkpoint:/m.pt"}
    assert all(n.kwargs["namespace"] == "/cabin/rear" for n in nodes)
    assert all({"use_sim_time": True} in n.kwargs["parameters"] for n in nodes)


def test_launch_backend_argument_refuses_python_code(monkeypatch):
    # python:MODULE:FACTORY runs code: the params file is the only way in (README, Security).
    with pytest.raises(ValueError, match=r"runs Python code.*params file"):
        _run_launch_file(monkeypatch, {"backend": " python:os:getcwd"})


def test_launch_hri_argument_adds_the_ros4hri_bridge(monkeypatch):
    args, actions = _run_launch_file(monkeypatch, {"hri": "true"}, kilted=False)
    assert args["hri"] == "false"
    names = [n.kwargs["name"] for n in _started_nodes(actions)]
    assert names == [*(s.name for s in CABIN_NODES), "hri_bridge"]
    bridge = _started_nodes(actions)[-1]
    assert bridge.kwargs["executable"] == "hri_bridge_node"
    assert (
        f'"hri_bridge_node = {PACKAGE}.nodes.hri_bridge:main"' in (ROOT / "setup.py").read_text()
    )
