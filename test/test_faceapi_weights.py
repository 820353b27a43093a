"""Shipped face-api weights: checksum-verified, safetensors only, clear errors naming the file."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch

from emotionaldan_ros.core.faceapi.nets import NETS
from emotionaldan_ros.core.faceapi.pretrained import WEIGHTS_DIR, load_net
from emotionaldan_ros.core.faceapi.recognizer import FaceApiRecognizer
from emotionaldan_ros.core.weights import WeightsError, read_sums, sha256_file

SMALL = "face_landmark_68_tiny"  # fastest to copy and load


@pytest.fixture
def weights_copy(tmp_path):
    out = tmp_path / "faceapi"
    shutil.copytree(WEIGHTS_DIR, out)
    return out


def test_shipped_files_are_listed_and_match():
    sums = read_sums(WEIGHTS_DIR / "SHA256SUMS")
    assert set(sums) == {f"{n}.safetensors" for n in NETS}
    for name, digest in sums.items():
        assert sha256_file(WEIGHTS_DIR / name) == digest, name
    notice = (WEIGHTS_DIR / "NOTICE").read_text()
    assert "MIT License" in notice and "@vladmandic/face-api version 1.7.15" in notice


@pytest.mark.parametrize("name", sorted(NETS))
def test_all_nets_load_as_safetensors_without_pickle(name, monkeypatch):
    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load must not be used for face-api weights")

    monkeypatch.setattr(torch, "load", no_pickle)
    path = WEIGHTS_DIR / f"{name}.safetensors"
    header_len = struct.unpack("<Q", path.read_bytes()[:8])[0]
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    assert header["__metadata__"]["source_package"] == "@vladmandic/face-api@1.7.15"
    net = load_net(name)
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())


def _flip_byte(path, offset=-10):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_file(weights_copy):
    path = weights_copy / f"{SMALL}.safetensors"
    _flip_byte(path)
    with pytest.raises(WeightsError, match=rf"checksum mismatch for .*{SMALL}\.safetensors"):
        load_net(SMALL, weights_dir=weights_copy)


def test_truncated_file(weights_copy):
    path = weights_copy / "face_expression.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match=r"face_expression\.safetensors"):
        FaceApiRecognizer(landmark_model=SMALL, weights_dir=weights_copy)


def test_missing_file_and_checksums(weights_copy):
    (weights_copy / f"{SMALL}.safetensors").unlink()
    with pytest.raises(WeightsError, match=rf"not found: .*{SMALL}\.safetensors"):
        load_net(SMALL, weights_dir=weights_copy)
    (weights_copy / "SHA256SUMS").unlink()
    with pytest.raises(WeightsError, match="no checksum file"):
        load_net("face_expression", weights_dir=weights_copy)


def test_file_not_listed_in_checksums(weights_copy):
    sums = weights_copy / "SHA256SUMS"
    sums.write_text("".join(ln + "\n" for ln in sums.read_text().splitlines() if SMALL not in ln))
    with pytest.raises(WeightsError, match=rf"{SMALL}\.safetensors is not listed"):
        load_net(SMALL, weights_dir=weights_copy)


def test_checksummed_but_wrong_architecture(weights_copy):
    """A valid, listed file holding another net's tensors is rejected, naming the file."""
    src = weights_copy / "face_expression.safetensors"
    dst = weights_copy / f"{SMALL}.safetensors"
    shutil.copy(src, dst)
    sums = weights_copy / "SHA256SUMS"
    lines = [
        f"{sha256_file(dst)}  {dst.name}" if dst.name in ln else ln
        for ln in sums.read_text().splitlines()
    ]
    sums.write_text("\n".join(lines) + "\n")
    with pytest.raises(WeightsError, match=rf"{SMALL}\.safetensors do not fit"):
        load_net(SMALL, weights_dir=weights_copy)


def test_unknown_net_name():
    with pytest.raises(ValueError, match="unknown face-api net"):
        load_net("face_recognition")
