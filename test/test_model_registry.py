import numpy as np
import pytest
import torch

from emotionaldan_ros.core.labels import EMOTIONS_7, EMOTIONS_8
from emotionaldan_ros.core.mean_shape import load_default_mean_shape
from emotionaldan_ros.core.model import (
    DANOutput,
    EmotionalDAN,
    create_model,
    list_models,
    model_config,
)


def test_registered_variants():
    assert {"emotionaldan", "emotionaldan_lite", "dan", "cnn2", "cnn5"} <= set(list_models())
    cfg = model_config("emotionaldan")
    assert cfg["input_size"] == (1, 112, 112) and cfg["classes"] == EMOTIONS_7
    assert model_config("emotionaldan", num_classes=8)["classes"] == EMOTIONS_8
    assert model_config("dan")["classes"] == () and model_config("cnn5")["num_landmarks"] == 0
    with pytest.raises(ValueError, match="known"):
        create_model("nope")


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_and_state_dict(name):
    torch.manual_seed(0)
    model = create_model(name, dropout=None)  # None kwargs are dropped
    cfg = model_config(name)
    x = torch.randn(2, *cfg["input_size"])
    out = model(x)
    assert isinstance(out, DANOutput)
    if cfg["num_landmarks"]:
        assert len(out.landmarks) == model.num_stages
        assert all(s.shape == (2, 68, 2) for s in out.landmarks)
    else:
        assert out.landmarks == []
    if cfg["num_classes"]:
        assert out.logits.shape == (2, cfg["num_classes"])
    else:
        assert out.logits is None
    loss = sum(s.square().mean() for s in out.landmarks)
    if out.logits is not None:
        loss = loss + out.logits.square().mean()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(bool(g.abs().sum() > 0) for g in grads) > 0.9 * len(grads)

    clone = create_model(name, **model.model_kwargs)
    clone.load_state_dict(model.state_dict())
    model.eval()
    clone.eval()
    with torch.no_grad():
        a, b = model(x), clone(x)
    for s, t in zip(a.landmarks, b.landmarks, strict=True):
        torch.testing.assert_close(s, t)
    if a.logits is not None:
        torch.testing.assert_close(a.logits, b.logits)


def test_untrained_dan_starts_at_mean_shape():
    model = EmotionalDAN(num_stages=2, width=0.125).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 1, 112, 112))
    mean = torch.from_numpy(load_default_mean_shape())
    # The landmark regressors start near zero, so each stage stays within ~1 px of S0.
    for stage in out.landmarks:
        assert (stage - mean).abs().max() < 1.0


def test_mean_shape_is_saved_in_state_dict():
    shape = load_default_mean_shape() + 3.0
    model = EmotionalDAN(1, 0.125, mean_shape=shape)
    sd = model.state_dict()
    np.testing.assert_allclose(sd["mean_shape"].numpy(), shape)
    other = EmotionalDAN(1, 0.125)
    other.load_state_dict(sd)
    np.testing.assert_allclose(other.mean_shape.numpy(), shape)
    assert "grid" not in sd  # derived buffers are not API
    with pytest.raises(ValueError, match="mean_shape"):
        EmotionalDAN(1, 0.125, mean_shape=np.zeros((5, 2)))


def test_state_dict_keys_are_stable():
    keys = set(EmotionalDAN(2, 0.125).state_dict())
    for key in (
        "mean_shape",
        "stages.0.body.features.conv1_1.conv.weight",
        "stages.0.body.features.conv4_2.bn.running_mean",
        "stages.0.body.fc1.weight",
        "stages.0.body.fc1_bn.weight",
        "stages.0.body.landmarks.weight",
        "stages.1.feature_image.fc.weight",
        "stages.1.body.features.conv1_1.conv.weight",
        "head.weight",
    ):
        assert key in keys, key


def test_stage_selection_freeze_and_reset_classifier():
    torch.manual_seed(1)
    model = EmotionalDAN(num_stages=3, width=0.125)
    x = torch.randn(2, 1, 112, 112)
    out1 = model(x, num_stages=1)
    assert len(out1.landmarks) == 1 and out1.logits is None  # head only after the last stage
    assert len(model(x).landmarks) == 3
    with pytest.raises(ValueError, match="num_stages"):
        model(x, num_stages=4)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.randn(2, 3, 112, 112))

    model.freeze_stages(1)
    model.train()
    assert not model.stages[0].training and model.stages[1].training
    before = model.stages[0].body.features.conv1_1.bn.running_mean.clone()
    out = model(x)
    (out.landmarks[-1].sum() + out.logits.sum()).backward()
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert all(p.grad is not None for p in model.stages[1].parameters())
    torch.testing.assert_close(model.stages[0].body.features.conv1_1.bn.running_mean, before)
    model.freeze_stages(0)
    assert model.stages[0].training and all(p.requires_grad for p in model.parameters())

    model.reset_classifier(8)
    assert model(x).logits.shape == (2, 8)
    model.reset_classifier(0)
    assert model(x).logits is None and "head.weight" not in model.state_dict()


def test_autocast_keeps_landmark_geometry_in_float32():
    torch.manual_seed(2)
    model = EmotionalDAN(num_stages=2, width=0.125).eval()
    x = torch.randn(2, 1, 112, 112)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert all(s.dtype == torch.float32 for s in low.landmarks)
    # bf16 convs change the correction a little; the geometry itself adds no error.
    assert (low.landmarks[-1] - ref.landmarks[-1]).abs().max() < 0.5
