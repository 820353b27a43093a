import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from emotionaldan_ros.cli.export import main as export_main
from emotionaldan_ros.core.checkpoint import save_checkpoint
from emotionaldan_ros.core.dan_recognizer import DANRecognizer
from emotionaldan_ros.core.export import HEADER_KEY, ExportWrapper, export_checkpoint
from emotionaldan_ros.core.model import create_model
from emotionaldan_ros.core.weights import WeightsError


def _randomise_bn(model):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp("export")
    model = _randomise_bn(create_model("emotionaldan", width=0.125))
    with torch.no_grad():  # visible landmark corrections, so the connection layers matter
        model.stages[0].body.landmarks.weight.normal_(0, 0.05)
        model.stages[1].body.landmarks.weight.normal_(0, 0.05)
    ckpt = save_checkpoint(tmp / "tiny.safetensors", model)
    paths = export_checkpoint(ckpt, tmp / "tiny.onnx", tmp / "tiny.ts.pt")
    return model, ckpt, paths


def _inputs(batch):
    g = torch.Generator().manual_seed(batch)
    return torch.randn(batch, 1, 112, 112, generator=g)


@pytest.mark.parametrize("batch", [1, 5])
def test_onnx_runtime_matches_pytorch(exported, batch):
    model, _, paths = exported
    x = _inputs(batch)
    with torch.no_grad():
        ref = [t.numpy() for t in ExportWrapper(model)(x)]
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["landmarks", "logits"]
    got = sess.run(None, {"input": x.numpy()})
    assert got[0].shape == (batch, 68, 2) and got[1].shape == (batch, 7)
    np.testing.assert_allclose(got[0], ref[0], rtol=0, atol=1e-3)  # pixels
    np.testing.assert_allclose(got[1], ref[1], rtol=0, atol=1e-4)
    # The stage-2 landmarks differ from stage 1, so the warp/heatmap path was exported too.
    with torch.no_grad():
        s1 = model(x).landmarks[0].numpy()
    assert np.abs(got[0] - s1).max() > 0.1


@pytest.mark.parametrize("batch", [1, 5])
def test_torchscript_matches_pytorch(exported, batch):
    model, _, paths = exported
    x = _inputs(batch)
    extra = {HEADER_KEY: ""}
    ts = torch.jit.load(str(paths["torchscript"]), _extra_files=extra)
    assert json.loads(extra[HEADER_KEY])["model"]["name"] == "emotionaldan"
    with torch.no_grad():
        ref = ExportWrapper(model)(x)
        got = ts(x)
    for a, b in zip(ref, got, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)


def test_onnx_metadata_and_recognizer_backend(exported):
    _, ckpt, paths = exported
    header = json.loads(
        {p.key: p.value for p in onnx.load(str(paths["onnx"])).metadata_props}[HEADER_KEY]
    )
    assert header["model"]["kwargs"] == {"width": 0.125} and len(header["classes"]) == 7
    rng = np.random.default_rng(0)
    img = (rng.random((200, 260, 3)) * 255).astype(np.uint8)
    boxes = np.array([[20.0, 30, 100, 110], [150, 60, 230, 140], [200, 150, 300, 250]])
    torch_rec = DANRecognizer.from_checkpoint(ckpt, backend="torch")
    assert "onnxruntime" not in torch_rec.name
    onnx_rec = DANRecognizer.from_checkpoint(paths["onnx"], num_threads=1)
    assert "onnxruntime" in onnx_rec.name
    a, b = torch_rec.predict(img, boxes), onnx_rec.predict(img, boxes)
    np.testing.assert_allclose(b.probs, a.probs, atol=1e-5)
    np.testing.assert_allclose(b.valence, a.valence, atol=1e-5)
    np.testing.assert_allclose(b.landmarks, a.landmarks, atol=2e-3)
    assert len(onnx_rec.predict(img, np.zeros((0, 4)))) == 0
    # A checkpoint runs on ONNX Runtime directly (exported in memory at load time): the default
    # on a CPU device.
    mem_rec = DANRecognizer.from_checkpoint(ckpt, num_threads=1)
    assert mem_rec.name.endswith(":onnxruntime")
    c = mem_rec.predict(img, boxes)
    np.testing.assert_allclose(c.probs, a.probs, atol=1e-5)
    np.testing.assert_allclose(c.landmarks, a.landmarks, atol=2e-3)
    with pytest.raises(ValueError, match="backend"):
        DANRecognizer.from_checkpoint(ckpt, backend="tensorrt")


def test_baseline_export_logits_only(tmp_path):
    torch.manual_seed(0)
    model = _randomise_bn(create_model("cnn5"))
    ckpt = save_checkpoint(tmp_path / "cnn5.pt", model)
    paths = export_checkpoint(ckpt, onnx_path=tmp_path / "cnn5.onnx")
    sess = ort.InferenceSession(str(paths["onnx"]), providers=["CPUExecutionProvider"])
    x = _inputs(3)
    (got,) = sess.run(None, {"input": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).logits.numpy(), atol=1e-4)


def test_cli_export_and_errors(exported, tmp_path, capsys):
    _, ckpt, _ = exported
    out = tmp_path / "cli.onnx"
    assert export_main([str(ckpt), "--onnx", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["max_abs_diff_vs_pytorch"]["onnx"] < 1e-3
    assert export_main([str(ckpt)]) == 2
    assert export_main([str(tmp_path / "none.pt"), "--onnx", str(out)]) == 1
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(WeightsError, match=r"bad\.onnx"):
        DANRecognizer.from_onnx(bad)


def test_cli_rewrites_a_pt_checkpoint_as_safetensors(tmp_path, capsys):
    """The shipped weights are safetensors re-writes of training's .pt: same header, tensors."""
    from emotionaldan_ros.core.checkpoint import load_checkpoint, read_header

    torch.manual_seed(1)
    model = _randomise_bn(create_model("emotionaldan_lite"))
    pt = save_checkpoint(tmp_path / "best.pt", model, {"seed": 3}, {"metrics": {"acc": 0.5}})
    out = tmp_path / "best.safetensors"
    assert export_main([str(pt), "--safetensors", str(out)]) == 0
    assert "sha256" in capsys.readouterr().out
    a, b = read_header(pt), read_header(out)
    assert a == b and b["config"] == {"seed": 3} and b["meta"]["metrics"] == {"acc": 0.5}
    again, _ = load_checkpoint(out)
    for (k, v), (k2, v2) in zip(
        model.state_dict().items(), again.state_dict().items(), strict=True
    ):
        assert k == k2 and torch.equal(v, v2)


def test_convert_checkpoint_merges_crop_parameters(tmp_path):
    from emotionaldan_ros.core.checkpoint import convert_checkpoint, read_header

    model = create_model("emotionaldan_lite")
    pt = save_checkpoint(tmp_path / "a.pt", model)
    out = convert_checkpoint(
        pt, tmp_path / "a.safetensors", crop={"margin": 0.14, "calibration": {"faces": 3}}
    )
    crop = read_header(out)["crop"]
    assert crop["margin"] == 0.14 and crop["shift"] == 0.15 and crop["calibration"]["faces"] == 3
