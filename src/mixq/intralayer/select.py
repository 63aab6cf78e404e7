"""Which weights are high precision: outlier scores, a diagonal Fisher estimate, the selection
and its re-selection schedule during QAT.

Criteria (:data:`CRITERIA`), per weight w of a dense+sparse layer, with alpha*T(w) the layer's
TWN ternarization over *all* its weights (so the score does not depend on the current mask):

- ``magnitude``: the ternary error ``|w - alpha*T(w)|``.
- ``fisher``: ``(w - alpha*T(w))^2 * F`` with F the diagonal empirical Fisher, the squared loss
  gradient averaged over a few batches: the second-order estimate of the loss increase when w is
  ternarized (LeCun et al. 1990, Optimal Brain Damage; as used for outliers by SqueezeLLM,
  Kim et al. 2023).
- ``refit``: the magnitude criterion made aware of the ternary scale the layer will really
  have. Removing the outliers lowers the TWN threshold and alpha of the weights left (alpha is
  the mean magnitude of the non-outliers above threshold), so the first selection's errors are
  measured against the wrong scale. ``refit`` selects by magnitude, refits TWN on the weights off
  the mask, scores every weight against that refitted ternarization and selects again
  (:data:`REFIT_ROUNDS` times).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mixq.data import Split, batches
from mixq.errors import MixqError
from mixq.intralayer.structures import build_mask, check_structure, from_ir_layout, to_ir_layout
from mixq.nn.intralayer import dense_sparse_layers
from mixq.nn.modes import eval_mode
from mixq.nn.modules import QuantFlatten, QuantLinear
from mixq.quant.fake import ternary_codes_and_scale

CRITERIA = ("magnitude", "fisher", "refit")
REFIT_ROUNDS = 2


def check_criterion(criterion: str) -> str:
    """Return ``criterion`` or raise MixqError naming the known ones."""
    if criterion not in CRITERIA:
        raise MixqError(f"outlier criterion '{criterion}' is not one of {', '.join(CRITERIA)}")
    return criterion


def ternary_error(w: torch.Tensor, per_channel: bool = True,
                  keep: torch.Tensor | None = None) -> torch.Tensor:
    """``w - alpha*T(w)`` of a TWN ternarization of the whole tensor (threshold and alpha fitted
    on the weights of ``keep`` when given).

    Example:
        >>> [round(v, 4) for v in ternary_error(torch.tensor([[1.0, -0.1, -0.8, 0.3]]))[0].tolist()]
        [0.1, -0.1, 0.1, 0.3]
    """
    w = w.detach()
    codes, alpha = ternary_codes_and_scale(w, per_channel, keep)
    a = alpha.reshape((-1,) + (1,) * (w.dim() - 1)) if alpha.dim() == 1 else alpha
    return w - codes.to(w.dtype) * a


def refit_error(w: torch.Tensor, mask: torch.Tensor, per_channel: bool = True) -> torch.Tensor:
    """``w - alpha'*T'(w)`` with TWN's threshold and alpha fitted on the weights off ``mask``.

    Example:
        >>> w = torch.tensor([[4.0, 1.0, -1.0, 0.9, 0.1, 0.0]])
        >>> [round(v, 2) for v in ternary_error(w)[0].tolist()]  # alpha 1.73: 4 drags it up
        [2.28, -0.73, 0.73, -0.83, 0.1, 0.0]
        >>> m = torch.tensor([[True, False, False, False, False, False]])
        >>> [round(v, 2) for v in refit_error(w, m)[0].tolist()]  # alpha 0.97 off the mask
        [3.03, 0.03, -0.03, -0.07, 0.1, 0.0]
    """
    return ternary_error(w, per_channel, keep=~mask)


def fisher_diagonal(qat: nn.Module, split: Split, num_batches: int = 4, batch_size: int = 64,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """Mean squared loss gradient of every dense+sparse layer's weight (diagonal Fisher).

    The model runs in eval mode (BatchNorm statistics untouched, fake quantization on, STE
    gradients); parameter ``.grad`` fields are left untouched. Train/eval flags are restored.

    Args:
        qat: a QAT model with dense+sparse layers.
        split: data to draw the batches from (shuffled with ``seed``).
        num_batches: batches averaged.
        batch_size: samples per batch.
        seed: batch order.

    Returns:
        layer name -> tensor like the layer's weight.
    """
    layers = dense_sparse_layers(qat)
    if not layers:
        return {}
    params = [m.weight for m in layers.values()]
    total = [torch.zeros_like(p) for p in params]
    loss_fn = nn.CrossEntropyLoss()
    seen = 0
    with eval_mode(qat):
        for x, y in batches(split, batch_size, shuffle=True, seed=seed):
            if seen >= num_batches:
                break
            grads = torch.autograd.grad(loss_fn(qat(x), y), params, allow_unused=True)
            for t, g in zip(total, grads):
                if g is not None:
                    t += g.detach() ** 2
            seen += 1
    return {name: t / max(seen, 1) for name, t in zip(layers, total)}


def outlier_scores(qat: nn.Module, criterion: str, fisher: dict | None = None
                   ) -> dict[str, torch.Tensor]:
    """Score of every weight of every dense+sparse layer (torch layout, like the weight)."""
    check_criterion(criterion)
    if criterion == "fisher" and fisher is None:
        raise MixqError("the 'fisher' criterion needs gradients: pass fisher=fisher_diagonal(...)")
    out = {}
    for name, m in dense_sparse_layers(qat).items():
        err = ternary_error(m.effective_weight(), m.wq.per_channel)
        out[name] = err ** 2 * fisher[name] if criterion == "fisher" else err.abs()
    return out


@torch.no_grad()
def record_fc_inputs(qat: nn.Module) -> None:
    """Record on each dense+sparse fully connected layer the (C, H, W) map it flattens.

    The IR orders such a layer's columns (H, W, C); N:M groups and blocks run along that order,
    so the selection needs it. Uses one integer-exact pass on a zero input.
    """
    fcs = {n: m for n, m in dense_sparse_layers(qat).items() if isinstance(m, QuantLinear)}
    if not fcs or qat.input_shape is None:
        return
    with eval_mode(qat):
        steps, _ = qat.integer_steps(torch.zeros((1,) + tuple(qat.input_shape)))
    by_key = {s.key: s for s in steps}
    for s in steps:
        if s.name in fcs:
            src = by_key.get(s.inputs[0])
            if src is not None and isinstance(src.module, QuantFlatten):
                shape = tuple(int(v) for v in src.input_codes[0].codes.shape[1:])
                fcs[s.name].wq.in_chw = shape if len(shape) == 3 else None


def select_outliers(qat: nn.Module, density: float, criterion: str = "magnitude",
                    fisher: dict | None = None) -> dict[str, int]:
    """Choose every dense+sparse layer's outliers (each at ``density``, in its structure).

    Args:
        qat: QAT model with dense+sparse layers (see :func:`mixq.nn.intralayer.make_dense_sparse`).
        density: fraction of each layer's weights kept as int8 outliers.
        criterion: one of :data:`CRITERIA`.
        fisher: :func:`fisher_diagonal` output ('fisher' only).

    Returns:
        layer name -> number of outliers selected.
    """
    scores = outlier_scores(qat, criterion, fisher)
    record_fc_inputs(qat)  # N:M groups and blocks of an fc layer follow the IR's column order
    counts = {}
    for name, m in dense_sparse_layers(qat).items():
        wq = m.wq
        ir_scores = to_ir_layout(scores[name].double().numpy(), wq.in_chw)
        mask = build_mask(ir_scores, check_structure(wq.structure), density)
        for _ in range(REFIT_ROUNDS if criterion == "refit" else 0):
            torch_mask = torch.as_tensor(np.ascontiguousarray(from_ir_layout(mask, wq.in_chw))
                                         ).reshape(m.weight.shape)
            err = refit_error(m.effective_weight(), torch_mask, wq.per_channel).abs()
            mask = build_mask(to_ir_layout(err.double().numpy(), wq.in_chw),
                              check_structure(wq.structure), density)
        wq.set_mask(np.ascontiguousarray(from_ir_layout(mask, wq.in_chw)).reshape(m.weight.shape))
        counts[name] = int(mask.sum())
    return counts


def reselect_before(epoch: int, epochs: int, every: int, freeze_last: int) -> bool:
    """Whether the outliers are re-selected before 0-based ``epoch`` (epoch 0: always).

    Re-selection happens every ``every`` epochs; the last ``freeze_last`` epochs train with the
    mask frozen.

    Example:
        >>> [e for e in range(6) if reselect_before(e, 6, every=1, freeze_last=2)]
        [0, 1, 2, 3]
        >>> [e for e in range(6) if reselect_before(e, 6, every=2, freeze_last=1)]
        [0, 2, 4]
    """
    if epoch == 0:
        return True
    return epoch % max(every, 1) == 0 and epoch < epochs - freeze_last


class OutlierSchedule:
    """``on_epoch_end`` callback for :func:`mixq.train.train`: re-selects the outliers.

    Args:
        density, criterion: as in :func:`select_outliers`.
        epochs: total QAT epochs.
        data_split: batches for the Fisher estimate ('fisher' only).
        every: re-select every this many epochs.
        freeze_last: epochs at the end that keep the mask frozen.
        fisher_batches: batches averaged by :func:`fisher_diagonal`.
        seed: Fisher batch order (offset by the epoch).
    """

    def __init__(self, density: float, criterion: str, epochs: int, data_split: Split | None,
                 every: int = 1, freeze_last: int = 1, fisher_batches: int = 4, seed: int = 0):
        self.density, self.criterion = density, check_criterion(criterion)
        self.epochs, self.split = epochs, data_split
        self.every, self.freeze_last = every, freeze_last
        self.fisher_batches, self.seed = fisher_batches, seed
        self.selections = 0

    def select(self, qat: nn.Module, epoch: int = 0) -> dict[str, int]:
        """Select now (before 0-based ``epoch``)."""
        fisher = None
        if not dense_sparse_layers(qat):
            return {}
        if self.criterion == "fisher":
            if self.split is None:
                raise MixqError("the 'fisher' criterion needs a data split for its gradients")
            fisher = fisher_diagonal(qat, self.split, self.fisher_batches, seed=self.seed + epoch)
        self.selections += 1
        return select_outliers(qat, self.density, self.criterion, fisher)

    def __call__(self, epoch: int, qat: nn.Module) -> None:
        if self.density > 0 and reselect_before(epoch + 1, self.epochs, self.every,
                                                self.freeze_last) and epoch + 1 < self.epochs:
            self.select(qat, epoch + 1)
