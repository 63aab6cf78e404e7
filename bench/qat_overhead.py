"""QAT training-step time relative to float training of the same model, measured side by side.

Case (issue 2): MobileNetV1-0.25 at 32x32, batch 64, w4a4 (per-channel ICN), CPU.
Target: at most 1.5x. Prints the median step times of interleaved rounds and their ratio.
On whatever device is present (issue 12: ``--device auto`` picks CUDA when a GPU is visible;
there QAT stays float32 and the float model is also timed under bfloat16 autocast, as mixq's
float pre-training runs), and ``--out FILE`` records the figures as JSON.

    .venv/bin/python bench/qat_overhead.py [--steps 20] [--rounds 5] [--bits 4]
    .venv/bin/python bench/qat_overhead.py --device auto --batch 256 --out bench/step_time.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mixq.fileio import write_json_atomic

from mixq.models import get_model, weight_layers
from mixq.nn import prepare
from mixq.quant.spec import BitAllocation
from mixq.train.distributed import autocast, resolve_device


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_time(model, x, y, opt, steps: int, amp: bool = False) -> float:
    loss_fn = torch.nn.CrossEntropyLoss()
    _sync(x.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        with autocast(x.device, amp):
            loss = loss_fn(model(x).float(), y)
        loss.backward()
        opt.step()
    _sync(x.device)
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--granularity", default="per-channel", choices=["per-channel", "per-layer"])
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    float_model = get_model("mobilenet_v1", width=0.25, resolution=32, num_classes=10)
    x, y = torch.rand(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    alloc = BitAllocation.uniform(weight_layers(float_model), args.bits, args.granularity)
    qat = prepare(float_model, alloc, calibration=x)  # calibrated on the CPU, then moved
    x, y = x.to(device), y.to(device)
    models = {"float": float_model.to(device).train(), "qat": qat.to(device).train()}
    runs = {"float": ("float", False), "qat": ("qat", False)}
    if device.type == "cuda":
        runs["float_autocast"] = ("float", True)
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    for name, (k, amp) in runs.items():  # warm-up
        _step_time(models[k], x, y, opts[k], 2, amp)
    times = {name: [] for name in runs}
    for _ in range(args.rounds):  # interleaved so machine noise hits both alike
        for name, (k, amp) in runs.items():
            times[name].append(_step_time(models[k], x, y, opts[k], args.steps, amp))
    med = {k: statistics.median(v) for k, v in times.items()}
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {torch.get_num_threads()} threads")
    print(f"MobileNetV1-0.25 32x32 batch {args.batch}, w{args.bits}a{args.bits} "
          f"{args.granularity}, torch {torch.__version__}, {where}")
    for name in runs:
        print(f"  {name + ' step:':<22}{med[name] * 1e3:8.2f} ms")
    print(f"  QAT / float: {med['qat'] / med['float']:.2f}x  (target <= 1.5x)")
    if args.out:
        write_json_atomic(args.out, {
            "model": "mobilenet_v1-0.25-32x32", "batch": args.batch, "bits": args.bits,
            "granularity": args.granularity, "device": where, "torch": torch.__version__,
            "steps": args.steps, "rounds": args.rounds,
            "median_step_ms": {k: round(v * 1e3, 3) for k, v in med.items()},
            "qat_over_float": round(med["qat"] / med["float"], 3)})


if __name__ == "__main__":
    main()
