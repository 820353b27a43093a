"""EmotionalDAN model benchmark: parameters, MACs and CPU latency per face.

Measures, for each model, (a) the network alone on ready crops and (b) the whole recogniser
(`DANRecognizer.predict` on a 640x480 frame: crop, normalise, network, postprocess), for PyTorch
and ONNX Runtime, batch sizes 1/4/8 and 1/2 threads. Prints the machine, the load average (other
processes on a shared machine inflate the figures) and the command.

    python benchmarks/model.py                                  # emotionaldan + emotionaldan_lite
    python benchmarks/model.py --models emotionaldan_lite emotionaldan:width=0.125 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emotionaldan_ros.benchmarking import describe
from emotionaldan_ros.core.checkpoint import save_checkpoint
from emotionaldan_ros.core.dan_recognizer import DANRecognizer
from emotionaldan_ros.core.export import export_onnx
from emotionaldan_ros.core.labels import emotion_names
from emotionaldan_ros.core.model import create_model


def parse_model(spec: str) -> tuple[str, dict]:
    """'name' or 'name:key=value,key=value' → (name, kwargs)."""
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        kwargs[key] = float(value) if "." in value else int(value)
    return name, kwargs


def count_macs(model: nn.Module, size: int = 112) -> int:
    """Multiply-accumulates of one forward pass for one face (conv + linear layers only)."""
    total = 0

    def conv_hook(mod: nn.Conv2d, _inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += out[0].numel() * k

    def linear_hook(mod: nn.Linear, _inp, out):
        nonlocal total
        total += out[0].numel() * mod.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.inference_mode():
        model.eval()(torch.randn(1, 1, size, size))
    for h in hooks:
        h.remove()
    return total


def time_call(fn, repeats: int, min_time: float = 0.3) -> tuple[float, float]:
    """Median wall and process-CPU seconds per call over `repeats` rounds.

    The CPU time of a 1-thread run is what the wall time would be on an idle core; on a shared
    machine the wall time also counts the waits for a core.
    """
    fn()
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-6)
    inner = max(1, int(min_time / repeats / once))
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(inner):
            fn()
        wall.append((time.perf_counter() - t0) / inner)
        cpu.append((time.process_time() - c0) / inner)
    return statistics.median(wall), statistics.median(cpu)


def machine() -> dict:
    """CPU model, cores, load and library versions."""
    return describe(("torch", "onnxruntime", "numpy"))


def _scene(batch: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    xs = np.linspace(20, 520, 4)
    boxes = [[x, y, x + 100, y + 100] for y in (60, 300) for x in xs][:batch]
    return img, np.asarray(boxes, np.float32)


def bench_model(spec: str, args, tmp: Path) -> list[dict]:
    """All latency rows of one model."""
    name, kwargs = parse_model(spec)
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model)
    ckpt = save_checkpoint(tmp / f"{spec.replace(':', '_')}.safetensors", model)
    onnx_path = export_onnx(
        model,
        tmp / f"{spec.replace(':', '_')}.onnx",
        {
            "format": "bench",
            "model": {"name": name, "kwargs": kwargs},
            "classes": list(emotion_names(model.num_classes)),
            "crop": {"size": 112, "margin": 0.2, "shift": 0.15},
        },
    )
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        recs = {}
        if "torch" in args.backends:
            recs["pytorch"] = DANRecognizer.from_checkpoint(ckpt)
        if "onnx" in args.backends:
            recs["onnxruntime"] = DANRecognizer.from_onnx(onnx_path, num_threads=threads)
        for batch in args.batches:
            img, boxes = _scene(batch)
            for backend, rec in recs.items():
                x, _ = rec.preprocess(img, boxes)
                net, net_cpu = time_call(lambda rec=rec, x=x: rec._run(x), args.repeats)
                e2e, e2e_cpu = time_call(
                    lambda rec=rec, img=img, boxes=boxes: rec.predict(img, boxes), args.repeats
                )
                rows.append(
                    {
                        "model": spec,
                        "params_M": params / 1e6,
                        "MMACs": macs / 1e6,
                        "backend": backend,
                        "threads": threads,
                        "batch": batch,
                        "net_ms_per_face": 1e3 * net / batch,
                        "recognizer_ms_per_face": 1e3 * e2e / batch,
                        "net_cpu_ms_per_face": 1e3 * net_cpu / batch,
                        "recognizer_cpu_ms_per_face": 1e3 * e2e_cpu / batch,
                    }
                )
                r = rows[-1]
                print(
                    f"| {spec} | {params / 1e6:.2f} | {macs / 1e6:.0f} | {backend} | {threads} "
                    f"| {batch} | {r['net_ms_per_face']:.2f} | {r['recognizer_ms_per_face']:.2f} "
                    f"| {r['recognizer_cpu_ms_per_face']:.2f} |",
                    flush=True,
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["emotionaldan", "emotionaldan_lite"])
    p.add_argument("--batches", nargs="+", type=int, default=[1, 4, 8])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--backends", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"])
    p.add_argument("--repeats", type=int, default=7, help="timing rounds (median reported)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)

    info = machine()
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    print("machine:", json.dumps(info))
    print()
    print(
        "| model | params (M) | MMACs/face | backend | threads | batch | network ms/face "
        "| recogniser ms/face | recogniser CPU ms/face |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models:
            rows += bench_model(spec, args, Path(tmp))
    print()
    print("load average after:", [round(x, 2) for x in os.getloadavg()])
    print("MACs count conv + linear layers; the connection layers (warp, heatmap) are extra.")
    print("ms/face = wall time / batch (median); CPU ms/face = process CPU time / batch, all")
    print("threads summed: with 1 thread it is the latency an idle core would give.")
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
