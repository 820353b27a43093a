"""A TensorFlow Lite graph of BlazeFace's operators, re-implemented as a PyTorch module.

MediaPipe's BlazeFace `.tflite` files are small feed-forward graphs of ten operator kinds
(2-D and depthwise convolutions, ReLU, add, pad, max-pool, bilinear resize, reshape, concat and
the fp16 → fp32 dequantisation of their weights); PReLU as well, for MediaPipe's face mesh
(`face_landmark.tflite`: convolutions, PReLU, add, pad, max-pool). `read_tflite` (conversion
time only: it needs the `tflite` flatbuffer schema package) turns a file into a `GraphSpec` (the
operators with their options and shapes, JSON-serialisable) plus the constant tensors.
`TfliteNet` runs a spec in PyTorch, NCHW, with TensorFlow's padding rules;
`emotionaldan_ros.core.detection.blazeface_convert` exports it to ONNX (with the spec in the
file's metadata, as a record of the graph).

Layouts: TFLite is NHWC with OHWI convolution kernels and 1HWC depthwise kernels; the module keeps
4-D activations NCHW and converts the kernels when it is built. A reshape or concat that the
graph does in NHWC is done on an NHWC view, so the outputs match the original element for
element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SUPPORTED_OPS", "GraphSpec", "TfliteNet", "read_tflite"]

SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "RELU",
    "ADD",
    "PAD",
    "MAX_POOL_2D",
    "RESIZE_BILINEAR",
    "RESHAPE",
    "CONCATENATION",
    "PRELU",
)
_ACTIVATIONS = {0: None, 1: "relu", 3: "relu6"}  # TFLite ActivationFunctionType codes


@dataclass
class GraphSpec:
    """A TFLite graph's structure (no weights), JSON-serialisable via `to_dict`.

    Attributes:
        input: index of the image input tensor (1, H, W, 3).
        outputs: name → tensor index of each graph output.
        shapes: tensor index (as str) → NHWC shape, for every tensor.
        ops: one dict per operator, in execution order: `op`, `inputs`, `outputs`, `options`.
        ints: tensor index (as str) → values of the integer constants (pad widths, shapes).
    """

    input: int
    outputs: dict[str, int]
    shapes: dict[str, list[int]]
    ops: list[dict[str, Any]] = field(default_factory=list)
    ints: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "input": self.input,
            "outputs": self.outputs,
            "shapes": self.shapes,
            "ops": self.ops,
            "ints": self.ints,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> GraphSpec:
        """Inverse of `to_dict`; ValueError on an operator this module does not implement."""
        spec = GraphSpec(int(data["input"]), dict(data["outputs"]), dict(data["shapes"]))
        spec.ops = list(data["ops"])
        spec.ints = {k: [int(x) for x in v] for k, v in data.get("ints", {}).items()}
        unknown = {op["op"] for op in spec.ops} - set(SUPPORTED_OPS)
        if unknown:
            raise ValueError(f"unsupported TFLite operators: {sorted(unknown)}")
        return spec


def read_tflite(path: str | Path) -> tuple[GraphSpec, dict[int, np.ndarray]]:
    """Parse a `.tflite` file into its structure and its constant tensors (float32, TFLite layout).

    fp16 weights (behind DEQUANTIZE operators) are widened to float32 and the DEQUANTIZE
    operators dropped: their outputs become constants.

    Raises:
        ValueError: more than one subgraph, or an operator outside `SUPPORTED_OPS`.
    """
    import tflite  # conversion-time dependency (flatbuffer schema reader)
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.TensorType import TensorType

    op_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"{path}: expected one subgraph, got {model.SubgraphsLength()}")
    g = model.Subgraphs(0)
    dtypes = {TensorType.FLOAT32: np.float32, TensorType.FLOAT16: np.float16}
    dtypes[TensorType.INT32] = np.int32

    def constant(index: int) -> np.ndarray | None:
        t = g.Tensors(index)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:  # no buffer: an activation
            return None
        arr = np.frombuffer(data.tobytes(), dtypes[t.Type()])
        return arr.reshape(t.ShapeAsNumpy() if t.ShapeLength() else ())

    shapes = {}
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        shapes[str(i)] = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
    consts: dict[int, np.ndarray] = {}
    ops: list[dict[str, Any]] = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = op_names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins = [int(i) for i in op.InputsAsNumpy()]
        outs = [int(i) for i in op.OutputsAsNumpy()]
        for i in ins:
            if i >= 0 and i not in consts:
                value = constant(i)
                if value is not None:
                    consts[i] = value
        if name == "DEQUANTIZE":
            consts[outs[0]] = consts[ins[0]].astype(np.float32)
            continue
        if name not in SUPPORTED_OPS:
            raise ValueError(f"{path}: unsupported operator {name}")
        ops.append({"op": name, "inputs": ins, "outputs": outs, "options": _options(op, name)})
    used = {i for op in ops for i in op["inputs"]}
    consts = {i: v.astype(np.float32) if v.dtype == np.float16 else v for i, v in consts.items()}
    consts = {i: v for i, v in consts.items() if i in used}
    ints = {str(i): v.reshape(-1).tolist() for i, v in consts.items() if v.dtype.kind == "i"}
    consts = {i: v for i, v in consts.items() if v.dtype.kind == "f"}
    outputs = {g.Tensors(int(i)).Name().decode(): int(i) for i in g.OutputsAsNumpy()}
    spec = GraphSpec(int(g.InputsAsNumpy()[0]), outputs, shapes, ops, ints)
    return spec, consts


def _options(op: Any, name: str) -> dict[str, Any]:
    """The options of one operator that its PyTorch version needs."""
    import tflite

    table = op.BuiltinOptions()
    kinds = {
        "CONV_2D": tflite.Conv2DOptions,
        "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
        "MAX_POOL_2D": tflite.Pool2DOptions,
        "ADD": tflite.AddOptions,
        "CONCATENATION": tflite.ConcatenationOptions,
        "RESIZE_BILINEAR": tflite.ResizeBilinearOptions,
    }
    if name not in kinds or table is None:
        return {}
    o = kinds[name]()
    o.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    if hasattr(o, "FusedActivationFunction"):
        act = o.FusedActivationFunction()
        if act not in _ACTIVATIONS:
            raise ValueError(f"unsupported fused activation {act} in {name}")
        out["activation"] = _ACTIVATIONS[act]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D"):
        out["padding"] = "same" if o.Padding() == 0 else "valid"
        out["stride"] = [o.StrideH(), o.StrideW()]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D") and (
        o.DilationHFactor() != 1 or o.DilationWFactor() != 1
    ):
        raise ValueError(f"dilated {name} is not supported")
    if name == "MAX_POOL_2D":
        out["kernel"] = [o.FilterHeight(), o.FilterWidth()]
    if name == "CONCATENATION":
        out["axis"] = o.Axis()
    if name == "RESIZE_BILINEAR" and (o.AlignCorners() or not o.HalfPixelCenters()):
        raise ValueError("RESIZE_BILINEAR is supported with half-pixel centres only")
    return out


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TfliteNet(nn.Module):
    """Runs a `GraphSpec` with its weights; input (N, 3, H, W) float, outputs in `spec.outputs`.

    Args:
        spec: the graph structure.
        weights: tensor index → float constant, in TFLite layout (kernels OHWI / 1HWC).
    """

    def __init__(self, spec: GraphSpec, weights: dict[int, np.ndarray]) -> None:
        super().__init__()
        self.spec = spec
        self.params = nn.ParameterDict()
        self.ints: dict[int, list[int]] = {int(k): v for k, v in spec.ints.items()}
        for op in spec.ops:
            for slot, index in enumerate(op["inputs"]):
                if index < 0 or index not in weights or f"t{index}" in self.params:
                    continue
                value = np.array(weights[index])  # a copy: the module owns writable weights
                if op["op"] == "CONV_2D" and slot == 1:
                    value = value.transpose(0, 3, 1, 2)  # OHWI → OIHW
                elif op["op"] == "DEPTHWISE_CONV_2D" and slot == 1:
                    value = value.transpose(3, 0, 1, 2)  # 1HWC → C1HW
                elif op["op"] == "PRELU" and slot == 1:
                    value = value.reshape(1, -1, 1, 1)  # per-channel slopes (1, 1, C) → NCHW
                elif value.ndim == 4:  # an NHWC constant operand (e.g. of ADD) → NCHW
                    value = value.transpose(0, 3, 1, 2)
                tensor = torch.from_numpy(np.ascontiguousarray(value, np.float32))
                self.params[f"t{index}"] = nn.Parameter(tensor, requires_grad=False)

    def _get(self, env: dict[int, torch.Tensor], index: int) -> torch.Tensor:
        key = f"t{index}"
        return self.params[key] if key in self.params else env[index]

    def _hw(self, index: int) -> tuple[int, int]:
        """Static height, width of a tensor (from the graph: no shape ops in the export)."""
        shape = self.spec.shapes[str(index)]
        return int(shape[1]), int(shape[2])

    def _conv(self, op: dict, x: torch.Tensor, depthwise: bool) -> torch.Tensor:
        w = self._get({}, op["inputs"][1])
        b = self._get({}, op["inputs"][2]) if len(op["inputs"]) > 2 else None
        sh, sw = op["options"]["stride"]
        kh, kw = (int(v) for v in w.shape[-2:])
        sym: tuple[int, int] = (0, 0)
        if op["options"]["padding"] == "same":
            h, w_ = self._hw(op["inputs"][0])
            ph, pw = _same_pad(h, kh, sh), _same_pad(w_, kw, sw)
            if ph[0] == ph[1] and pw[0] == pw[1]:  # one Conv node with its own padding
                sym = (ph[0], pw[0])
            else:
                x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
        groups = int(w.shape[0]) if depthwise else 1
        return F.conv2d(x, w, b, stride=(sh, sw), padding=sym, groups=groups)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N, 3, H, W) float → the graph's outputs, in `spec.outputs` order."""
        env: dict[int, torch.Tensor] = {self.spec.input: image}
        for op in self.spec.ops:
            kind, opts, ins = op["op"], op["options"], op["inputs"]
            x = self._get(env, ins[0]) if ins[0] not in self.ints else None
            if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                y = self._conv(op, x, kind == "DEPTHWISE_CONV_2D")
            elif kind == "RELU":
                y = F.relu(x)
            elif kind == "PRELU":
                y = torch.where(x >= 0, x, x * self._get(env, ins[1]))
            elif kind == "ADD":
                y = x + self._get(env, ins[1])
            elif kind == "PAD":
                p = self.ints[ins[1]]  # NHWC (before, after) pairs
                y = F.pad(x, (p[4], p[5], p[2], p[3], p[6], p[7], p[0], p[1]))
            elif kind == "MAX_POOL_2D":
                kh, kw = opts["kernel"]
                sh, sw = opts["stride"]
                if opts["padding"] == "same":
                    h, w_ = self._hw(ins[0])
                    ph, pw = _same_pad(h, kh, sh), _same_pad(w_, kw, sw)
                    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
                y = F.max_pool2d(x, (kh, kw), (sh, sw))
            elif kind == "RESIZE_BILINEAR":
                size = self.ints[ins[1]]
                y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            elif kind == "RESHAPE":
                shape = self.spec.shapes[str(op["outputs"][0])]
                nhwc = x.permute(0, 2, 3, 1) if x.dim() == 4 else x
                y = nhwc.reshape([-1, *shape[1:]])
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif kind == "CONCATENATION":
                parts = [self._get(env, i) for i in ins]
                axis = opts["axis"] % parts[0].dim()
                if parts[0].dim() == 4:
                    axis = (0, 2, 3, 1)[axis]  # NHWC axis → NCHW axis
                y = torch.cat(parts, dim=axis)
            else:  # guarded by GraphSpec.from_dict / read_tflite
                raise ValueError(f"unsupported operator {kind}")
            act = opts.get("activation")
            if act == "relu":
                y = F.relu(y)
            elif act == "relu6":
                y = F.relu6(y)
            env[op["outputs"][0]] = y
        return tuple(env[i] for i in self.spec.outputs.values())
