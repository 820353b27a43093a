"""The shipped params file, the node declarations and the launch file agree."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from emotionaldan_ros.cabin import merged_params
from emotionaldan_ros.graph import CABIN_NODES, cabin_nodes, default_config

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
        default_config(), ["camera.fps=30", "emotionaldan.backend=x.pt", "newnode.flag=true"]
    )
    assert section(data, "camera")["fps"] == 30
    assert section(data, "emotionaldan")["backend"] == "x.pt"
    assert section(data, "newnode")["flag"] is True
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


def _fake_launch_modules() -> dict[str, types.ModuleType]:
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
            "launch.substitutions",
            "launch_ros",
            "launch_ros.actions",
        )
    }
    mods["launch"].LaunchDescription = lambda entities: list(entities)
    for cls in ("DeclareLaunchArgument", "OpaqueFunction", "SetEnvironmentVariable"):
        setattr(mods["launch.actions"], cls, type(cls, (_Action,), {}))
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    for cls in ("Node", "LifecycleNode"):
        setattr(mods["launch_ros.actions"], cls, type(cls, (_Action,), {}))
    return mods


def _run_launch_file(monkeypatch, overrides: dict[str, str]):
    mods = _fake_launch_modules()
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


def test_launch_file_starts_the_graph_nodes(monkeypatch):
    args, nodes = _run_launch_file(monkeypatch, {})
    assert {"source", "backend", "detector", "params_file", "namespace", "camera"} <= set(args)
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in CABIN_NODES]
    for node, spec in zip(nodes, CABIN_NODES, strict=True):
        assert node.kwargs["executable"] == spec.executable
        assert type(node).__name__ == ("LifecycleNode" if spec.lifecycle else "Node")
        assert node.kwargs["namespace"] == "/cabin"
        if spec.lifecycle:  # launch drives the transitions, so the node must not do it too
            assert node.kwargs["autostart"] is True
            assert node.kwargs["parameters"] == [str(default_config()), {"autostart": False}]
        else:
            assert node.kwargs["parameters"] == [str(default_config())]


def test_launch_arguments_override_params_and_drop_camera(monkeypatch):
    _, nodes = _run_launch_file(
        monkeypatch, {"camera": "false", "backend": "checkpoint:/m.pt", "namespace": "/cabin/rear"}
    )
    assert [n.kwargs["name"] for n in nodes] == [s.name for s in cabin_nodes(camera=False)]
    emo = next(n for n in nodes if n.kwargs["name"] == "emotionaldan")
    assert emo.kwargs["parameters"][-1] == {"backend": "checkpoint:/m.pt"}
    assert all(n.kwargs["namespace"] == "/cabin/rear" for n in nodes)
