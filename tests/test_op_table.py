"""The exporter's op table (kws.model_ops) and the native runtime's op registry
(cpp/src/ops, one file per op type) list the same op types with the same attributes
and tensor roles."""

from __future__ import annotations

import pytest

from kws import _core
from kws.model_ops import OP_TYPES, check_op


def test_python_table_equals_the_native_registry():
    native = _core.op_types()
    assert sorted(native) == sorted(OP_TYPES)
    for name, spec in OP_TYPES.items():
        got = native[name]
        assert sorted(got["attrs"]) == sorted(spec.attrs), name
        assert sorted(got["tensors"]) == sorted(spec.tensors), name
        assert sorted(got["optional_tensors"]) == sorted(spec.optional_tensors), name


def test_check_op_accepts_what_the_table_says_and_names_the_problem():
    conv = {"name": "c", "type": "conv2d", "inputs": [0],
            "attrs": {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
                      "padding": "same", "activation": "relu"},
            "tensors": {"kernel": "c.kernel"}}
    check_op(conv)  # bias is optional
    check_op({**conv, "tensors": {"kernel": "k", "bias": "b"}})
    with pytest.raises(ValueError, match="layer 'c': op type 'conv3d'"):
        check_op({**conv, "type": "conv3d"})
    with pytest.raises(ValueError, match="no attribute.*dilation"):
        check_op({**conv, "attrs": {**conv["attrs"], "dilation": [2, 2]}})
    with pytest.raises(ValueError, match="needs tensor.*kernel"):
        check_op({**conv, "tensors": {}})
    with pytest.raises(ValueError, match="no tensor role.*gamma"):
        check_op({**conv, "tensors": {"kernel": "k", "gamma": "g"}})
