"""The one exception type the bag tools raise for bad input (printed as a one-line error)."""

from __future__ import annotations


class BagError(Exception):
    """A bag, topic, dataset or option the tools cannot use; the message says what and why."""
