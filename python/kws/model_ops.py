"""The op types of model.kws, one table: each type's attributes and tensor roles.

The native runtime defines each op in one file (cpp/src/ops/<op>.cc) and lists them in
a registry; `kws._core.op_types()` returns that registry, and a test checks it equals
this table. The exporter checks every op it writes against it (`check_op`), so a layer
the runtime cannot read fails at export, naming the layer.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class OpType(NamedTuple):
    attrs: tuple[str, ...] = ()             # attribute keys the runtime reads
    tensors: tuple[str, ...] = ()           # required tensor roles
    optional_tensors: tuple[str, ...] = ()  # tensor roles that may be absent


_WINDOW = ("kernel_size", "strides", "padding")

OP_TYPES: dict[str, OpType] = {
    "conv2d": OpType(("filters",) + _WINDOW + ("activation",), ("kernel",), ("bias",)),
    "depthwise_conv2d": OpType(_WINDOW + ("depth_multiplier", "activation", "dilation_rate"),
                               ("kernel",), ("bias",)),
    "dense": OpType(("units", "activation"), ("kernel",), ("bias",)),
    "scale_shift": OpType(("per_column",), ("scale", "shift")),
    "relu": OpType(),
    "max_pool2d": OpType(("pool_size", "strides", "padding")),
    "avg_pool2d": OpType(("pool_size", "strides", "padding")),
    "global_avg_pool2d": OpType(),
    "flatten": OpType(),
    "reshape": OpType(("target_shape",)),
    "add": OpType(),
    "svdf": OpType(("units", "rank", "memory_size", "activation"),
                   ("feature_filter", "time_filter"), ("bias",)),
    "silu": OpType(),
    "pad": OpType(("columns",)),
    "crop": OpType(("rows",)),
    "log": OpType(("scale", "shift", "floor")),
    "leaky_relu": OpType(("alpha", "floor")),  # floor optional
}


def check_op(op: dict[str, Any]) -> None:
    """Raises ValueError unless `op` (as written to the metadata) uses a known type with
    only its attributes and tensor roles, and names every required tensor."""
    where = f"layer '{op.get('name')}'"
    spec = OP_TYPES.get(op["type"])
    if spec is None:
        raise ValueError(f"{where}: op type '{op['type']}' is not one model.kws defines")
    extra = set(op.get("attrs", {})) - set(spec.attrs)
    if extra:
        raise ValueError(f"{where}: {op['type']} has no attribute(s) {sorted(extra)}")
    roles = set(op.get("tensors", {}))
    unknown = roles - set(spec.tensors) - set(spec.optional_tensors)
    if unknown:
        raise ValueError(f"{where}: {op['type']} has no tensor role(s) {sorted(unknown)}")
    missing = set(spec.tensors) - roles
    if missing:
        raise ValueError(f"{where}: {op['type']} needs tensor(s) {sorted(missing)}")
