"""TF.js manifest parsing, de-quantisation and the reproducible converter, on hand-made files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emotionaldan_ros.core.faceapi.convert import (
    ConversionError,
    convert_package,
    map_name,
    to_torch_layout,
)
from emotionaldan_ros.core.faceapi.pretrained import load_net
from emotionaldan_ros.core.faceapi.tfjs import TfjsFormatError, load_tfjs_weights, read_manifest


def _write_manifest(folder: Path, weights: list[dict], shards: list[bytes]) -> Path:
    names = []
    for i, data in enumerate(shards):
        (folder / f"group1-shard{i + 1}of{len(shards)}.bin").write_bytes(data)
        names.append(f"group1-shard{i + 1}of{len(shards)}.bin")
    path = folder / "m-weights_manifest.json"
    path.write_text(json.dumps([{"paths": names, "weights": weights}]))
    return path


def _example(folder: Path) -> tuple[Path, dict]:
    """Five weights of every storage kind, split over two shards mid-weight."""
    q8 = np.array([[0, 1, 2], [127, 254, 255]], np.uint8)
    f32 = np.array([1.5, -2.25, 3.0e-7], np.float32)
    qint = np.array([0, 1, 2, 3], np.uint8)  # int32 weight: round(q * 0.5 + 1) = 1, 2, 2, 3
    q16 = np.array([0, 65535], np.uint16)
    f16 = np.array([0.5, -1.0, 65504.0], np.float16)
    weights = [
        {"name": "a/q8", "shape": [2, 3], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.01, "min": -1.0}},
        {"name": "a/f32", "shape": [3], "dtype": "float32"},
        {"name": "b/int", "shape": [4], "dtype": "int32",
         "quantization": {"dtype": "uint8", "scale": 0.5, "min": 1.0}},
        {"name": "b/q16", "shape": [2], "dtype": "float32",
         "quantization": {"dtype": "uint16", "scale": 2.0, "min": -3.0}},
        {"name": "c/f16", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}},
    ]  # fmt: skip
    blob = b"".join(
        a.astype(a.dtype.newbyteorder("<")).tobytes() for a in (q8, f32, qint, q16, f16)
    )
    path = _write_manifest(folder, weights, [blob[:10], blob[10:]])
    return path, {"q8": q8, "f32": f32, "q16": q16, "f16": f16}


def test_manifest_parsing(tmp_path):
    path, _ = _example(tmp_path)
    ((paths, specs),) = read_manifest(path)
    assert paths == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert [s.name for s in specs] == ["a/q8", "a/f32", "b/int", "b/q16", "c/f16"]
    assert [s.nbytes for s in specs] == [6, 12, 4, 4, 6]
    assert specs[0].shape == (2, 3) and specs[1].quantization is None


def test_dequantisation_values(tmp_path):
    path, raw = _example(tmp_path)
    w = load_tfjs_weights(path)
    assert w["a/q8"].dtype == np.float32 and w["a/q8"].shape == (2, 3)
    np.testing.assert_allclose(w["a/q8"], raw["q8"].astype(np.float64) * 0.01 - 1.0, rtol=1e-7)
    assert w["a/q8"][1, 2] == np.float32(255 * 0.01 - 1.0)
    np.testing.assert_array_equal(w["a/f32"], raw["f32"])
    # int32 weights round like JavaScript's Math.round (2.5 -> 3, not banker's 2).
    assert w["b/int"].dtype == np.int32
    np.testing.assert_array_equal(w["b/int"], [1, 2, 2, 3])
    np.testing.assert_allclose(w["b/q16"], [-3.0, 65535 * 2.0 - 3.0])
    np.testing.assert_array_equal(w["c/f16"], raw["f16"].astype(np.float32))


def test_truncated_or_missing_shards_are_reported(tmp_path):
    path, _ = _example(tmp_path)
    shard = tmp_path / "group1-shard2of2.bin"
    shard.write_bytes(shard.read_bytes()[:-1])
    with pytest.raises(TfjsFormatError, match="truncated"):
        load_tfjs_weights(path)
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=r"group1-shard2of2\.bin"):
        load_tfjs_weights(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "x", "shape": [1], "dtype": "string"}, "unsupported dtype"),
        ({"name": "x", "shape": [1], "dtype": "float32", "quantization": {"dtype": "int4"}},
         "unsupported quantization"),
        ({"name": "x", "shape": [1], "dtype": "float32", "quantization": {"dtype": "uint8"}},
         "scale"),
        ({"name": "x", "dtype": "float32"}, "bad weight group"),
    ],
)  # fmt: skip
def test_bad_manifest_entries(tmp_path, entry, message):
    path = _write_manifest(tmp_path, [entry], [b"\0" * 4])
    with pytest.raises(TfjsFormatError, match=message):
        read_manifest(path)


def test_duplicate_names_and_bad_json(tmp_path):
    entry = {"name": "x", "shape": [1], "dtype": "float32"}
    path = _write_manifest(tmp_path, [entry, entry], [b"\0" * 8])
    with pytest.raises(TfjsFormatError, match="twice"):
        load_tfjs_weights(path)
    path.write_text("{not json")
    with pytest.raises(TfjsFormatError, match="cannot read"):
        read_manifest(path)


def test_name_mapping_and_layouts():
    assert map_name("face_expression", "dense0/conv0/filters") == "features.dense0.conv0.weight"
    assert map_name("face_expression", "dense0/conv0/bias") == "features.dense0.conv0.bias"
    assert (
        map_name("face_expression", "dense2/conv1/bias") == "features.dense2.conv1.pointwise.bias"
    )
    bn_var = "MobilenetV1/Conv2d_13_depthwise/BatchNorm/moving_variance"
    assert map_name("ssd_mobilenetv1", bn_var) == "layers.12.bn.running_var"
    assert map_name("ssd_mobilenetv1", "Preprocessor/mul/x") is None
    with pytest.raises(ConversionError, match="no mapping"):
        map_name("tiny_face_detector", "conv9/filters")
    hwio = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)  # kh, kw, in, out
    assert to_torch_layout("c.weight", hwio)[4, 3, 1, 2] == hwio[1, 2, 3, 4]
    dw = np.arange(2 * 3 * 4).reshape(2, 3, 4, 1)
    assert to_torch_layout("c.depthwise.weight", dw)[3, 0, 1, 2] == dw[1, 2, 3, 0]
    fc = np.arange(6).reshape(2, 3)
    assert to_torch_layout("fc.weight", fc).shape == (3, 2)


def _tiny_detector_package(root: Path, seed: int = 0) -> Path:
    """A fake face-api package holding a random uint8-quantised tiny_face_detector."""
    rng = np.random.default_rng(seed)
    chans = (16, 32, 64, 128, 256, 512)
    shapes = [("conv0/filters", [3, 3, 3, 16]), ("conv0/bias", [16])]
    for i in range(1, 6):
        c_in, c_out = chans[i - 1], chans[i]
        shapes += [
            (f"conv{i}/depthwise_filter", [3, 3, c_in, 1]),
            (f"conv{i}/pointwise_filter", [1, 1, c_in, c_out]),
            (f"conv{i}/bias", [c_out]),
        ]
    shapes += [("conv8/filters", [1, 1, 512, 25]), ("conv8/bias", [25])]
    weights, blobs = [], []
    for name, shape in shapes:
        q = {"dtype": "uint8", "scale": 0.01, "min": -1.2}
        weights.append({"name": name, "shape": shape, "dtype": "float32", "quantization": q})
        blobs.append(rng.integers(0, 256, int(np.prod(shape)), dtype=np.uint8).tobytes())
    model = root / "package" / "model"
    model.mkdir(parents=True)
    (model / "tiny_face_detector_model.bin").write_bytes(b"".join(blobs))
    (model / "tiny_face_detector_model-weights_manifest.json").write_text(
        json.dumps([{"paths": ["tiny_face_detector_model.bin"], "weights": weights}])
    )
    (root / "package" / "package.json").write_text(
        json.dumps({"name": "@vladmandic/face-api", "version": "0.0.0-test"})
    )
    (root / "package" / "LICENSE").write_text("MIT License\n\nCopyright (c) test\n")
    return root / "package"


def test_converter_is_reproducible_and_loadable(tmp_path):
    src = _tiny_detector_package(tmp_path / "src")
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    convert_package(src, out1, ("tiny_face_detector",))
    convert_package(src, out2, ("tiny_face_detector",))
    for name in ("tiny_face_detector.safetensors", "SHA256SUMS", "NOTICE"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    notice = (out1 / "NOTICE").read_text()
    assert "0.0.0-test" in notice and "MIT License" in notice

    net = load_net("tiny_face_detector", weights_dir=out1)
    tf = load_tfjs_weights(src / "model" / "tiny_face_detector_model-weights_manifest.json")
    dw = net.state_dict()["conv3.depthwise.weight"]
    torch.testing.assert_close(
        dw[5, 0, 2, 1], torch.tensor(tf["conv3/depthwise_filter"][2, 1, 5, 0]), rtol=0, atol=0
    )
    conv8 = net.state_dict()["conv8.weight"]
    assert conv8[7, 100, 0, 0].item() == tf["conv8/filters"][0, 0, 100, 7]


def test_converter_rejects_other_packages(tmp_path):
    src = _tiny_detector_package(tmp_path / "src")
    (src / "package.json").write_text(json.dumps({"name": "left-pad", "version": "1.0.0"}))
    with pytest.raises(ConversionError, match="left-pad"):
        convert_package(src, tmp_path / "out", ("tiny_face_detector",))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="not a face-api package"):
        convert_package(tmp_path / "empty", tmp_path / "out")


def test_cli(tmp_path, capsys):
    import tarfile

    from emotionaldan_ros.cli.convert_faceapi import main

    src = _tiny_detector_package(tmp_path / "src")
    tgz = tmp_path / "face-api.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="package")
    assert main([str(tgz), "--out", str(tmp_path / "a"), "--nets", "tiny_face_detector"]) == 0
    assert main([str(src), "--out", str(tmp_path / "b"), "--nets", "tiny_face_detector"]) == 0
    assert (tmp_path / "a" / "SHA256SUMS").read_bytes() == (
        tmp_path / "b" / "SHA256SUMS"
    ).read_bytes()
    assert "tiny_face_detector" in capsys.readouterr().out
    assert main([str(tmp_path / "nowhere.tgz"), "--out", str(tmp_path / "c")]) == 1
    assert "does not exist" in capsys.readouterr().err
