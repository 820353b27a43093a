"""Run a small TF.js *graph model* (model.json + weight shards) as a PyTorch module.

TF.js graph models are frozen TensorFlow graphs: a list of nodes (op, inputs, attributes) plus
the weights of their `Const` nodes in the usual TF.js shards (read by `core.faceapi.tfjs`). Only
the ops of small convolutional classifiers are implemented; an unknown op fails at load time
with its name, never at run time. Layout: inputs and intermediate tensors are NHWC as in
TensorFlow; convolutions run in NCHW internally.

Supported ops: Placeholder, Const, Identity, _FusedConv2D (BiasAdd with optional Relu / Relu6),
Conv2D, DepthwiseConv2dNative, BiasAdd, MaxPool, AvgPool, AddV2 / Add, Mul, Relu, Relu6, Mean
(spatial), Softmax, Reshape (to (N, -1) only).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emotionaldan_ros.core.faceapi.tfjs import TfjsFormatError, load_tfjs_weights, parse_manifest

SUPPORTED_OPS = frozenset(
    {
        "Placeholder",
        "Const",
        "Identity",
        "_FusedConv2D",
        "Conv2D",
        "DepthwiseConv2dNative",
        "BiasAdd",
        "MaxPool",
        "AvgPool",
        "AddV2",
        "Add",
        "Mul",
        "Relu",
        "Relu6",
        "Mean",
        "Softmax",
        "Reshape",
    }
)


def _attr_list(node: dict, key: str) -> list[int]:
    return [int(v) for v in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _attr_str(node: dict, key: str, default: str = "") -> str:
    raw = node.get("attr", {}).get(key, {}).get("s")
    return base64.b64decode(raw).decode() if raw else default


def _fused_ops(node: dict) -> list[str]:
    items = node.get("attr", {}).get("fused_ops", {}).get("list", {}).get("s", [])
    return [base64.b64decode(s).decode() for s in items]


def _same_pad(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    """TensorFlow 'SAME' padding of an NCHW tensor (extra pixel at the bottom / right)."""
    pads = []
    for size, k, s in ((x.shape[3], kernel[1], stride[1]), (x.shape[2], kernel[0], stride[0])):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class TfjsGraphModel(nn.Module):
    """A TF.js graph model executed node by node in topological (file) order.

    Args:
        model_json: path of the graph model's `model.json` (its shards next to it).

    Raises:
        FileNotFoundError: the JSON or a shard is missing.
        TfjsFormatError: not a graph model, an unsupported op or data format, or a missing input.
    """

    def __init__(self, model_json: Path | str) -> None:
        super().__init__()
        path = Path(model_json)
        if not path.is_file():
            raise FileNotFoundError(f"TF.js graph model not found: {path}")
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise TfjsFormatError(f"cannot read {path}: {exc}") from exc
        if doc.get("format") != "graph-model":
            raise TfjsFormatError(f"{path}: format {doc.get('format')!r} is not 'graph-model'")
        groups = parse_manifest(doc.get("weightsManifest"), str(path))
        weights = load_tfjs_weights(path, groups)
        self.nodes: list[dict[str, Any]] = []
        self._consts: dict[str, str] = {}
        for i, node in enumerate(doc["modelTopology"]["node"]):
            op = node["op"]
            if op not in SUPPORTED_OPS:
                raise TfjsFormatError(f"{path}: unsupported op {op!r} in node {node['name']!r}")
            if op == "Const":
                if node["name"] not in weights:
                    raise TfjsFormatError(f"{path}: no weight for constant {node['name']!r}")
                buf = f"c{i}"
                self.register_buffer(buf, torch.from_numpy(weights[node["name"]].copy()))
                self._consts[node["name"]] = buf
                continue
            fmt = _attr_str(node, "data_format", "NHWC")
            if fmt != "NHWC":
                raise TfjsFormatError(f"{path}: data format {fmt} in {node['name']!r}")
            self.nodes.append(
                {
                    "name": node["name"],
                    "op": op,
                    "inputs": [s.split(":")[0].lstrip("^") for s in node.get("input", [])],
                    "strides": _attr_list(node, "strides") or [1, 1, 1, 1],
                    "ksize": _attr_list(node, "ksize"),
                    "padding": _attr_str(node, "padding", "VALID"),
                    "fused": _fused_ops(node),
                    "keep_dims": bool(node.get("attr", {}).get("keep_dims", {}).get("b", False)),
                }
            )
        inputs = [n["name"] for n in self.nodes if n["op"] == "Placeholder"]
        if len(inputs) != 1:
            raise TfjsFormatError(f"{path}: expected one input, found {inputs}")
        self.input_name = inputs[0]
        self.output_name = self.nodes[-1]["name"]

    def _const(self, name: str) -> Tensor:
        return getattr(self, self._consts[name])

    def _value(self, env: dict[str, Tensor], name: str) -> Tensor:
        if name in env:
            return env[name]
        if name in self._consts:
            return self._const(name)
        raise TfjsFormatError(f"graph input {name!r} is computed by no earlier node")

    def forward(self, x: Tensor) -> Tensor:
        """Run the graph on an NHWC float tensor; returns the last node's output."""
        env: dict[str, Tensor] = {self.input_name: x}
        for node in self.nodes:
            op, ins = node["op"], node["inputs"]
            if op == "Placeholder":
                continue
            args = [self._value(env, name) for name in ins]
            env[node["name"]] = self._run(node, args)
        return env[self.output_name]

    def _run(self, node: dict[str, Any], args: list[Tensor]) -> Tensor:
        op = node["op"]
        if op == "Identity":
            return args[0]
        if op in ("_FusedConv2D", "Conv2D", "DepthwiseConv2dNative"):
            y = self._conv(node, args[0], args[1])
            if op == "_FusedConv2D":
                fused = node["fused"]
                if not fused or fused[0] != "BiasAdd":
                    raise TfjsFormatError(f"{node['name']}: fused ops {fused} not supported")
                y = y + args[2].reshape(1, -1, 1, 1)
                for act in fused[1:]:
                    y = _activation(act, y, node["name"])
            return y.permute(0, 2, 3, 1)
        if op == "BiasAdd":
            return args[0] + args[1]
        if op in ("MaxPool", "AvgPool"):
            k = node["ksize"][1:3]
            s = node["strides"][1:3]
            x = args[0].permute(0, 3, 1, 2)
            if node["padding"] == "SAME":
                if op == "MaxPool":
                    x = _same_pad_value(x, k, s, float("-inf"))
                    y = F.max_pool2d(x, k, s)
                else:  # TF excludes the padding from the average
                    ones = _same_pad(torch.ones_like(x[:, :1]), k, s)
                    y = F.avg_pool2d(_same_pad(x, k, s), k, s) / F.avg_pool2d(ones, k, s)
            else:
                y = (F.max_pool2d if op == "MaxPool" else F.avg_pool2d)(x, k, s)
            return y.permute(0, 2, 3, 1)
        if op in ("AddV2", "Add"):
            return args[0] + args[1]
        if op == "Mul":
            return args[0] * args[1]
        if op in ("Relu", "Relu6"):
            return _activation(op, args[0], node["name"])
        if op == "Mean":
            axes = tuple(int(a) for a in args[1].reshape(-1).tolist())
            if set(axes) != {1, 2}:
                raise TfjsFormatError(f"{node['name']}: Mean over axes {axes} not supported")
            return args[0].mean(dim=(1, 2), keepdim=node["keep_dims"])
        if op == "Softmax":
            return torch.softmax(args[0], dim=-1)
        if op == "Reshape":
            return args[0].reshape(args[0].shape[0], -1)
        raise TfjsFormatError(f"op {op!r} not implemented")  # guarded at load time

    def _conv(self, node: dict[str, Any], x: Tensor, w: Tensor) -> Tensor:
        s = tuple(node["strides"][1:3])
        x = x.permute(0, 3, 1, 2)
        if node["op"] == "DepthwiseConv2dNative":  # HW, in, multiplier → (in*mult, 1, H, W)
            kh, kw, cin, mult = w.shape
            weight = w.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw)
            groups = cin
        else:  # HWIO → OIHW
            kh, kw = w.shape[:2]
            weight = w.permute(3, 2, 0, 1)
            groups = 1
        if node["padding"] == "SAME":
            x = _same_pad(x, (kh, kw), s)
        return F.conv2d(x, weight, stride=s, groups=groups)


def _same_pad_value(x: Tensor, kernel: list[int], stride: list[int], value: float) -> Tensor:
    pads = []
    for size, k, s in ((x.shape[3], kernel[1], stride[1]), (x.shape[2], kernel[0], stride[0])):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


def _activation(name: str, x: Tensor, where: str) -> Tensor:
    if name == "Relu":
        return torch.relu(x)
    if name == "Relu6":
        return torch.clamp(x, 0.0, 6.0)
    raise TfjsFormatError(f"{where}: activation {name!r} not supported")
