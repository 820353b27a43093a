import pytest

from emotionaldan_ros.core.pairing import StampPairer


def test_pairs_either_order():
    p = StampPairer(4)
    assert p.add_a(1, "img1") is None
    assert p.add_b(1, "faces1") == ("img1", "faces1")
    assert p.add_b(2, "faces2") is None
    assert p.add_a(2, "img2") == ("img2", "faces2")


def test_bounded_and_evictions_counted():
    p = StampPairer(2)
    for k in range(5):
        assert p.add_a(k, k) is None
    assert p.evicted_a == 3
    assert p.add_b(0, "late") is None  # image 0 was evicted
    assert p.add_b(4, "f4") == (4, "f4")


def test_capacity_validated():
    with pytest.raises(ValueError, match="capacity"):
        StampPairer(0)
