"""QAT of intra-layer mixed-precision models: configuration, allocation, training, storage cost.

A model's weight layers are split into *edge* layers (first and last, ``edge_bits`` by default 8,
as is customary) and *dense+sparse* layers (ternary + int8 outliers). Activations use
``act_bits`` throughout (network input and logits 8-bit).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from mixq.data import DatasetSplits
from mixq.errors import MixqError
from mixq.intralayer.cost import (LayerCost, dense_sparse_cost, effective_bits_per_weight,
                                  uniform_cost)
from mixq.intralayer.select import OutlierSchedule, check_criterion, record_fc_inputs
from mixq.intralayer.structures import check_structure, max_density, to_ir_layout
from mixq.models import weight_layers
from mixq.nn import prepare
from mixq.nn.intralayer import dense_sparse_layers, make_dense_sparse
from mixq.nn.modes import eval_mode
from mixq.nn.modules import QuantConv, QuantLinear
from mixq.quant.spec import ACT_BITS, WEIGHT_BITS, BitAllocation, LayerBits, scheme_for
from mixq.train import TrainConfig, evaluate, train


@dataclass(frozen=True)
class IntraLayerConfig:
    """How an intra-layer mixed-precision model is built and trained.

    Example:
        >>> IntraLayerConfig(density=0.02, structure="1:8").structure
        '1:8'
        >>> IntraLayerConfig(density=0.1, structure="1:16")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: density 0.1 exceeds what structure '1:16' allows (0.0625)
    """

    density: float = 0.01           # fraction of each dense+sparse layer's weights kept in int8
    structure: str = "unstructured"  # outlier structure (mixq.intralayer.structures)
    criterion: str = "fisher"       # 'magnitude', 'fisher' (error^2 x Fisher) or 'refit'
    act_bits: int = 8               # activation bits of every layer (input and logits: 8)
    edge_bits: int | None = 8       # weight bits of the first and last layers; None: they are
                                    # dense+sparse too
    middle_bits: int | None = None  # None: middle layers dense+sparse; 8/4/2: uniform b-bit
                                    # weights instead (reference models)
    granularity: str = "per-channel"
    reselect_every: int = 1         # re-select the outliers every this many epochs ...
    freeze_last: int = 2            # ... except in the last epochs (mask frozen)
    fisher_batches: int = 4         # batches of the diagonal Fisher estimate
    bn_reestimate: bool = True      # recompute BatchNorm statistics after QAT

    def __post_init__(self):
        check_structure(self.structure)
        check_criterion(self.criterion)
        if not 0.0 <= self.density <= 1.0:
            raise MixqError(f"density {self.density} must be in [0, 1]")
        if self.density > max_density(self.structure) + 1e-12:
            raise MixqError(f"density {self.density} exceeds what structure '{self.structure}' "
                            f"allows ({max_density(self.structure)})")
        if self.act_bits not in ACT_BITS:
            raise MixqError(f"act_bits={self.act_bits} is not one of {ACT_BITS}")
        for name in ("edge_bits", "middle_bits"):
            v = getattr(self, name)
            if v is not None and v not in WEIGHT_BITS:
                raise MixqError(f"{name}={v} is not one of {WEIGHT_BITS} (or None)")

    def to_dict(self) -> dict:
        return asdict(self)


def intralayer_allocation(layers, cfg: IntraLayerConfig) -> tuple[BitAllocation, list[str]]:
    """Bit allocation of an intra-layer model and the names of its dense+sparse layers.

    Args:
        layers: (name, kind) of every weight layer in execution order.
        cfg: the configuration.

    Returns:
        (allocation, dense+sparse layer names). Dense+sparse layers are ternary (w_bits 2).

    Example:
        >>> a, ds = intralayer_allocation([("c", "conv"), ("p", "pw"), ("f", "fc")],
        ...                               IntraLayerConfig())
        >>> [(l.name, l.w_bits, l.ternary) for l in a.layers], ds
        ([('c', 8, False), ('p', 2, True), ('f', 8, False)], ['p'])
    """
    layers = list(layers)
    n = len(layers)
    out, dense_sparse = [], []
    for i, (name, kind) in enumerate(layers):
        edge = cfg.edge_bits is not None and i in (0, n - 1)
        if edge:
            w, ternary = cfg.edge_bits, False
        elif cfg.middle_bits is not None:
            w, ternary = cfg.middle_bits, False
        else:
            w, ternary = 2, True
            dense_sparse.append(name)
        in_bits = 8 if i == 0 else cfg.act_bits
        out_bits = 8 if i == n - 1 else cfg.act_bits
        out.append(LayerBits(name, kind, w, in_bits, out_bits,
                             scheme_for(cfg.granularity, w, out_bits), ternary))
    return BitAllocation(tuple(out), cfg.granularity), dense_sparse


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, split, num_batches: int = 16, batch_size: int = 128,
                         seed: int = 0) -> None:
    """Recompute every BatchNorm's running statistics with the current (quantized) weights.

    Low-bit QAT weights oscillate around rounding thresholds, and ternary ones flip sign or
    support when the outlier mask changes; the exponential running averages then describe a
    mixture of past weights. Re-estimating them once on a few batches (Nagel et al. 2022,
    "Overcoming Oscillations in Quantization-Aware Training", BN re-estimation) fixes the
    mismatch. Parameters are untouched; train/eval flags are restored.
    """
    from mixq.data import batches

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [bn.momentum for bn in bns]
    try:
        with eval_mode(model, keep_training=bns):
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = None  # cumulative average over the batches below
            for i, (x, _) in enumerate(batches(split, batch_size, shuffle=True, seed=seed)):
                if i >= num_batches:
                    break
                model(x)
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum


def prepare_intralayer(model: nn.Module, cfg: IntraLayerConfig, calibration: torch.Tensor,
                       input_shape=None) -> nn.Module:
    """A QAT model with dense+sparse layers (no outliers selected yet).

    Args:
        model: float model built from mixq blocks (copied, not modified).
        cfg: the configuration.
        calibration: float input batch for the activation ranges.
        input_shape: (C, H, W); defaults to ``model.input_shape``.
    """
    shape = input_shape or getattr(model, "input_shape", None)
    alloc, names = intralayer_allocation(weight_layers(model, shape), cfg)
    qat = prepare(copy.deepcopy(model), alloc, calibration=calibration)
    if qat.input_shape is None:
        qat.input_shape = tuple(shape)
    make_dense_sparse(qat, names, cfg.structure)
    record_fc_inputs(qat)
    return qat


def train_intralayer(model: nn.Module, data: DatasetSplits, cfg: IntraLayerConfig,
                     train_cfg: TrainConfig, calibration_samples: int = 256,
                     progress: bool = False, desc: str = "intra-layer QAT"):
    """Prepare, select the outliers, and QAT an intra-layer model.

    The outliers are selected before the first epoch and re-selected on the schedule of ``cfg``
    (:class:`mixq.intralayer.select.OutlierSchedule`), frozen for the last epochs.

    Returns:
        (qat model in eval mode, :class:`mixq.train.TrainResult`).
    """
    torch.manual_seed(train_cfg.seed)
    qat = prepare_intralayer(model, cfg, data.train.x[:calibration_samples], data.input_shape)
    schedule = OutlierSchedule(cfg.density, cfg.criterion, train_cfg.epochs, data.train,
                               cfg.reselect_every, cfg.freeze_last, cfg.fisher_batches,
                               train_cfg.seed)
    if cfg.density > 0 and dense_sparse_layers(qat):
        schedule.select(qat, 0)
    result = train(qat, data, train_cfg, progress=progress, desc=desc, on_epoch_end=schedule)
    if cfg.bn_reestimate:
        reestimate_batchnorm(qat, data.train, seed=train_cfg.seed)
    qat.eval()
    return qat, result


def model_costs(qat: nn.Module) -> list[LayerCost]:
    """Storage of every weight layer of a QAT model (dense+sparse or uniform)."""
    costs = []
    for node in qat.gm.graph.nodes:
        if node.op != "call_module":
            continue
        m = qat.gm.get_submodule(node.target)
        if not isinstance(m, (QuantConv, QuantLinear)):
            continue
        scales = m.weight.shape[0] if m.bits.per_channel else 1
        if node.target in dense_sparse_layers(qat):
            mask = to_ir_layout(m.wq.mask.numpy(), m.wq.in_chw)
            costs.append(dense_sparse_cost(node.target, mask, m.wq.structure, scales))
        else:
            costs.append(uniform_cost(node.target, m.weight.numel(), m.bits.w_bits, scales))
    return costs


def cost_summary(qat: nn.Module) -> dict:
    """Effective bits per weight of the whole model and of its dense+sparse layers, with the
    values / scales / indices breakdown and the achieved outlier density."""
    costs = model_costs(qat)
    ds = [c for c in costs if c.name in dense_sparse_layers(qat)]
    weights = sum(c.weights for c in costs)
    ds_weights = sum(c.weights for c in ds)
    return {
        "bits_per_weight": effective_bits_per_weight(costs),
        "bits_per_weight_dense_sparse": effective_bits_per_weight(ds) if ds else None,
        "value_bits": sum(c.value_bits for c in costs),
        "scale_bits": sum(c.scale_bits for c in costs),
        "index_bits": sum(c.index_bits for c in costs),
        "weights": weights,
        "dense_sparse_weights": ds_weights,
        "outliers": sum(c.nnz for c in ds),
        "achieved_density": sum(c.nnz for c in ds) / ds_weights if ds_weights else 0.0,
        "layers": [{"name": c.name, "weights": c.weights, "nnz": c.nnz,
                    "bits_per_weight": c.bits_per_weight} for c in costs],
    }


def evaluate_both(qat: nn.Module, data: DatasetSplits) -> dict:
    """Top-1 of the fake-quantized and of the integer-exact model on the test split."""
    fake = evaluate(qat, data.test)
    qat.integer_mode = True
    try:
        integer = evaluate(qat, data.test)
    finally:
        qat.integer_mode = False
    return {"top1_fakequant": fake, "top1_integer": integer}
