"""What to quantize, and how: plain frozen dataclasses shared by search, QAT and integerization.

One :class:`BitAllocation` drives both fake quantization (:func:`mixq.nn.prepare`) and
integerization (:func:`mixq.ir.capture.integerize`), so the two cannot disagree.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from mixq.errors import MixqError
from mixq.quant.kinds import WEIGHT_KINDS, LayerKind

WEIGHT_BITS = (8, 4, 2)
ACT_BITS = (8, 4, 2)
# Rusci et al. 2020, Sec. 4: PL+FB = per-layer weights, BN folded; PL+ICN / PC+ICN = per-layer /
# per-channel weights with Integer Channel Normalization.
SCHEMES = ("PL+FB", "PL+ICN", "PC+ICN")
GRANULARITIES = ("per-channel", "per-layer")


@dataclass(frozen=True)
class LayerBits:
    """Precision of one weight layer.

    Attributes:
        name: module name in the float model (e.g. 'features.3.conv').
        kind: a weighted :class:`~mixq.quant.kinds.LayerKind` (a string is parsed).
        w_bits: weight bits: 8, 4 or 2 (2 with ``ternary`` means {-1, 0, 1}).
        in_bits: input activation bits (8 for the network input).
        out_bits: output activation bits.
        scheme: 'PL+FB', 'PL+ICN' or 'PC+ICN'.
        ternary: ternary weights (w_bits must be 2).
    """

    name: str
    kind: LayerKind
    w_bits: int
    in_bits: int
    out_bits: int
    scheme: str = "PC+ICN"
    ternary: bool = False

    def __post_init__(self):
        kind = next((k for k in WEIGHT_KINDS if k == self.kind), None)
        if kind is None:
            raise MixqError(f"layer '{self.name}': kind '{self.kind}' is not one of "
                            f"{', '.join(WEIGHT_KINDS)}")
        object.__setattr__(self, "kind", kind)
        if self.w_bits not in WEIGHT_BITS:
            raise MixqError(f"layer '{self.name}': w_bits={self.w_bits} is not one of {WEIGHT_BITS}")
        for field_ in ("in_bits", "out_bits"):
            if getattr(self, field_) not in ACT_BITS:
                raise MixqError(f"layer '{self.name}': {field_}={getattr(self, field_)} "
                                f"is not one of {ACT_BITS}")
        if self.scheme not in SCHEMES:
            raise MixqError(f"layer '{self.name}': scheme '{self.scheme}' is not one of {SCHEMES}")
        if self.ternary and self.w_bits != 2:
            raise MixqError(f"layer '{self.name}': ternary weights need w_bits=2")

    @property
    def per_channel(self) -> bool:
        return self.scheme == "PC+ICN"

    @property
    def fold_bn(self) -> bool:
        return self.scheme == "PL+FB"


def scheme_for(granularity: str, w_bits: int, out_bits: int) -> str:
    """The paper's scheme rule: MixPC uses PC+ICN everywhere; MixPL uses PL+ICN when the weights
    or the output are below 8 bits, else PL+FB.

    Example:
        >>> scheme_for("per-layer", 8, 8), scheme_for("per-layer", 4, 8), scheme_for("per-channel", 8, 8)
        ('PL+FB', 'PL+ICN', 'PC+ICN')
    """
    if granularity not in GRANULARITIES:
        raise MixqError(f"granularity '{granularity}' is not one of {GRANULARITIES}")
    if granularity == "per-channel":
        return "PC+ICN"
    return "PL+ICN" if (w_bits < 8 or out_bits < 8) else "PL+FB"


@dataclass(frozen=True)
class BitAllocation:
    """Per-layer precision of a whole network, layers in forward order.

    Example:
        >>> a = BitAllocation.uniform([("c", "conv"), ("f", "fc")], bits=4)
        >>> [(l.name, l.w_bits, l.in_bits, l.out_bits) for l in a.layers]
        [('c', 4, 8, 4), ('f', 4, 4, 8)]
        >>> BitAllocation.from_json(a.to_json()) == a
        True

    Attributes:
        layers: per weight layer, in forward order.
        granularity: 'per-channel' or 'per-layer'.
        excluded_kernels: ``function/variant`` kernel names the target's linked build gave up
            to fit its flash (set by ``mixq.allocate(..., target=...)``'s closing loop; a
            deployment of this allocation honours them, ``mixq deploy --exclude-kernels``).
    """

    layers: tuple[LayerBits, ...]
    granularity: str = "per-channel"
    excluded_kernels: frozenset = frozenset()

    def __post_init__(self):
        names = [l.name for l in self.layers]
        if len(set(names)) != len(names):
            raise MixqError("bit allocation lists a layer twice; give each layer once")

    def __getitem__(self, name: str) -> LayerBits:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise MixqError(f"bit allocation has no layer '{name}'; known: {[l.name for l in self.layers]}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(l.name for l in self.layers)

    @classmethod
    def uniform(cls, layers, bits: int, granularity: str = "per-channel",
                ternary: bool = False) -> "BitAllocation":
        """Same bits for every layer's weights and activations; network input and logits 8-bit.

        Args:
            layers: (name, kind) pairs in forward order.
            bits: weight and activation bits.
            granularity: 'per-channel' or 'per-layer'.
            ternary: ternary weights (bits must be 2).
        """
        out = []
        n = len(layers)
        for i, (name, kind) in enumerate(layers):
            in_bits = 8 if i == 0 else bits
            out_bits = 8 if i == n - 1 else bits
            out.append(LayerBits(name, kind, bits, in_bits, out_bits,
                                 scheme_for(granularity, bits, out_bits), ternary))
        return cls(tuple(out), granularity)

    def with_layer(self, name: str, **changes) -> "BitAllocation":
        """A copy with one layer's fields changed."""
        return replace(self, layers=tuple(replace(l, **changes) if l.name == name else l
                                          for l in self.layers))

    def to_dict(self) -> dict:
        extra = {"excluded_kernels": sorted(self.excluded_kernels)} if self.excluded_kernels \
            else {}
        return {"granularity": self.granularity,
                "layers": [{**asdict(l), "kind": str(l.kind)} for l in self.layers], **extra}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "BitAllocation":
        if not isinstance(d, dict) or not isinstance(d.get("layers"), list):
            raise MixqError("bit allocation must be a JSON object with a 'layers' list")
        layers = []
        for i, item in enumerate(d["layers"]):
            if not isinstance(item, dict):
                raise MixqError(f"bit allocation layer #{i} must be an object")
            missing = {"name", "kind", "w_bits", "in_bits", "out_bits"} - set(item)
            if missing:
                raise MixqError(f"bit allocation layer #{i} misses fields {sorted(missing)}")
            unknown = set(item) - {"name", "kind", "w_bits", "in_bits", "out_bits", "scheme",
                                   "ternary"}
            if unknown:
                raise MixqError(f"bit allocation layer #{i} has unknown fields {sorted(unknown)}")
            gran = d.get("granularity", "per-channel")
            item = dict(item)
            item.setdefault("scheme", scheme_for(gran, item["w_bits"], item["out_bits"]))
            layers.append(LayerBits(**item))
        excluded = d.get("excluded_kernels", [])
        if not isinstance(excluded, list) or not all(isinstance(k, str) for k in excluded):
            raise MixqError("bit allocation's 'excluded_kernels' must be a list of kernel names "
                            "('function/variant')")
        return cls(tuple(layers), d.get("granularity", "per-channel"), frozenset(excluded))

    @classmethod
    def from_json(cls, text: str) -> "BitAllocation":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise MixqError(f"bit allocation is not valid JSON ({e}); fix the file") from None
        return cls.from_dict(d)

    @classmethod
    def load(cls, path) -> "BitAllocation":
        """Read an allocation JSON file (as written by ``mixq allocate --json`` or ``to_json``)."""
        p = Path(path)
        if not p.is_file():
            raise MixqError(f"bit allocation file '{p}' does not exist")
        try:
            return cls.from_json(p.read_text())
        except MixqError as e:
            raise MixqError(f"{p}: {e}") from None
