"""Per-layer latency ESTIMATES of a platform, for the latency-aware bit allocation.

:func:`latency_function` is the one place :mod:`mixq.search` gets a latency model from: the
cluster model (:mod:`mixq.platform.cluster`) for a platform with a ``[cluster]``, the MCU's
cycles-per-MAC table otherwise. Pure arithmetic on layer shapes: no emulator, no toolchain.
"""

from __future__ import annotations

import math

from mixq.errors import MixqError
from mixq.platform.cluster import LayerGeometry, layer_latency, weights_in_l3
from mixq.platform.spec import Platform, get_platform  # noqa: F401 (get_platform: doctest)


def geometry_from_shape(shape, w_bits: int = 8, in_bits: int = 8,
                        out_bits: int = 8) -> LayerGeometry:
    """A :class:`LayerGeometry` from a layer shape (a :class:`mixq.search.memory.LayerShape`
    or anything with its ``kind``, ``in_shape``, ``out_shape``, ``weight_count`` and
    ``out_channels``); square kernels assumed: kh = kw = sqrt(weights per output / C_in).

    Example:
        >>> from types import SimpleNamespace as Shape
        >>> s = Shape(kind="conv", in_shape=(16, 16, 32), out_shape=(16, 16, 64),
        ...           weight_count=18432, out_channels=64)
        >>> geometry_from_shape(s).kernel
        (3, 3)
    """
    per_out = shape.weight_count // max(shape.out_channels, 1)
    window = per_out if shape.kind == "dw" else per_out // max(shape.in_shape[2], 1)
    kh = max(1, round(math.sqrt(window)))
    kernel = (kh, max(1, window // kh))
    return LayerGeometry(shape.kind, tuple(shape.in_shape), tuple(shape.out_shape),
                         kernel if shape.kind in ("conv", "dw") else (1, 1),
                         w_bits, in_bits, out_bits)


def latency_function(platform: Platform, shapes=()):
    """``f(shape, w_bits, in_bits, out_bits) -> estimated cycles`` of one layer on
    ``platform``, for :func:`mixq.search.sensitivity_allocation.allocate_sensitivity`; and the
    clock those cycles run at.

    A platform with a ``[cluster]`` uses :func:`layer_latency` (weights streamed from L3 when
    the 8-bit weights of ``shapes`` and their largest activation pair overflow L2: an upper
    bound for lower precisions); one with a ``[latency]`` table charges MACs x cycles per MAC.

    Returns:
        (function, clock_hz).

    Raises:
        MixqError: the platform has neither.

    Example:
        >>> from mixq.platform.spec import get_platform
        >>> from mixq.search.memory import LayerShape
        >>> s = LayerShape("pw", "pw", (8, 8, 64), (8, 8, 64), 4096, 64, 262144)
        >>> f, clock = latency_function(get_platform("stm32h7"))
        >>> f(s, 8, 8, 8), clock
        (346030, 400000000.0)
    """
    if platform.cluster is not None:
        cluster = platform.cluster
        in_l3 = weights_in_l3([geometry_from_shape(s) for s in shapes], cluster)

        def cluster_cycles(shape, w, a_in, a_out) -> int:
            g = geometry_from_shape(shape, w, a_in, a_out)
            return layer_latency(g, cluster, in_l3).cycles

        return cluster_cycles, float(cluster.clock_hz)
    if platform.cycles_per_mac:
        table, dw = platform.cycles_per_mac, platform.dw_cycles_per_mac or platform.cycles_per_mac

        def mcu_cycles(shape, w, a_in, a_out) -> int:
            key = f"w{w}a{a_in}"
            per_mac = (dw if shape.kind == "dw" else table).get(key)
            if per_mac is None:
                raise MixqError(f"target '{platform.name}': [latency] has no '{key}' entry; "
                                "list every precision the allocation may choose")
            return int(round(shape.macs * per_mac))

        return mcu_cycles, float(platform.clock_hz)
    raise MixqError(f"target '{platform.name}' has no latency model; give its spec a [cluster] "
                    "or a [latency] table (cycles_per_mac)")


__all__ = ["geometry_from_shape", "latency_function"]
