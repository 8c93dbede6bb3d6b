"""Runs a block of checks under each kernel set this CPU runs (see kws.build_info())."""

from __future__ import annotations

from collections.abc import Iterator

import kws
from kws import _core


def kernel_sets() -> Iterator[str]:
    """Yields each kernel set this CPU runs (scalar first, the reference), switched on
    for the loop body; the set active before is restored afterwards."""
    before = kws.build_info()["kernel_set"]
    try:
        for name in kws.build_info()["supported_sets"]:
            assert _core._use_kernel_set(name), name
            assert kws.build_info()["kernel_set"] == name
            yield name
    finally:
        _core._use_kernel_set(before)
