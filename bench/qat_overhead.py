"""QAT training-step time relative to float training of the same model, measured side by side.

Case (issue 2): MobileNetV1-0.25 at 32x32, batch 64, w4a4 (per-channel ICN), CPU.
Target: at most 1.5x. Prints the median step times of interleaved rounds and their ratio.

    .venv/bin/python bench/qat_overhead.py [--steps 20] [--rounds 5] [--bits 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mixq.models import get_model, weight_layers
from mixq.nn import prepare
from mixq.quant.spec import BitAllocation


def _step_time(model, x, y, opt, steps: int) -> float:
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--granularity", default="per-channel", choices=["per-channel", "per-layer"])
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    float_model = get_model("mobilenet_v1", width=0.25, resolution=32, num_classes=10)
    x, y = torch.rand(64, 3, 32, 32), torch.randint(0, 10, (64,))
    alloc = BitAllocation.uniform(weight_layers(float_model), args.bits, args.granularity)
    qat = prepare(float_model, alloc, calibration=x)
    models = {"float": float_model.train(), "qat": qat.train()}
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    for k in models:  # warm-up
        _step_time(models[k], x, y, opts[k], 2)
    times = {k: [] for k in models}
    for _ in range(args.rounds):  # interleaved so machine noise hits both alike
        for k in models:
            times[k].append(_step_time(models[k], x, y, opts[k], args.steps))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"MobileNetV1-0.25 32x32 batch 64, w{args.bits}a{args.bits} {args.granularity}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"  float step: {med['float'] * 1e3:8.2f} ms")
    print(f"  QAT step:   {med['qat'] * 1e3:8.2f} ms")
    print(f"  QAT / float: {med['qat'] / med['float']:.2f}x  (target <= 1.5x)")


if __name__ == "__main__":
    main()
