"""QAT training-step time relative to float training of the same model, measured side by side.

Case (issue 2): MobileNetV1-0.25 at 32x32, batch 64, w4a4 (per-channel ICN), CPU.
Target: at most 1.5x. Prints the median step times of interleaved rounds and their ratio, at 1
and 2 torch threads on the CPU (issue 14: the ratio depends on the thread count), with Brevitas'
QAT of the same network (QuantConv2d/QuantLinear with per-channel 4-bit weights, QuantReLU 4-bit
activations, 8-bit input; a dev dependency of this benchmark only) timed in the same rounds.
On whatever device is present (issue 12: ``--device auto`` picks CUDA when a GPU is visible;
there QAT stays float32 and the float model is also timed under bfloat16 autocast, as mixq's
float pre-training runs), and ``--out FILE`` records the figures as JSON.

    .venv/bin/python bench/qat_overhead.py [--steps 20] [--rounds 5] [--bits 4] [--threads 1 2]
    .venv/bin/python bench/qat_overhead.py --device auto --batch 256 --out bench/step_time.json
"""

from __future__ import annotations

import argparse
import copy
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


def brevitas_twin(float_model, bits: int):
    """The same network with Brevitas quantizers: per-channel ``bits`` weights, ``bits`` ReLU
    outputs, an 8-bit unsigned input; the float model's weights copied in. None without Brevitas.
    """
    try:
        import brevitas.nn as qnn
        from brevitas.quant import Uint8ActPerTensorFloat
    except ImportError:
        return None
    from mixq.nn.layers import ConvBNReLU

    twin = copy.deepcopy(float_model)
    for name, m in list(twin.named_children()):
        if isinstance(m, ConvBNReLU):
            c = m.conv
            q = qnn.QuantConv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride,
                                padding=0, groups=c.groups, bias=False, weight_bit_width=bits,
                                weight_scaling_per_output_channel=True)
            q.weight.data.copy_(c.weight.data)
            m.conv = q
            if m.relu:  # ReLU then a 4-bit QuantReLU: the QAT model's unsigned activation
                setattr(twin, name, torch.nn.Sequential(m, qnn.QuantReLU(bit_width=bits)))
        elif isinstance(m, torch.nn.Linear):
            q = qnn.QuantLinear(m.in_features, m.out_features, bias=True, weight_bit_width=bits,
                                weight_scaling_per_output_channel=True)
            q.weight.data.copy_(m.weight.data)
            q.bias.data.copy_(m.bias.data)
            setattr(twin, name, q)
    return torch.nn.Sequential(qnn.QuantIdentity(act_quant=Uint8ActPerTensorFloat), twin)


def measure(models: dict, runs: dict, x, y, steps: int, rounds: int) -> dict:
    """Median step time (s) of each run over ``rounds`` interleaved rounds of ``steps`` steps."""
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    for name, (k, amp) in runs.items():  # warm-up
        _step_time(models[k], x, y, opts[k], 2, amp)
    times = {name: [] for name in runs}
    for _ in range(rounds):  # interleaved so machine noise hits all alike
        for name, (k, amp) in runs.items():
            times[name].append(_step_time(models[k], x, y, opts[k], steps, amp))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bits", type=int, default=4)
    ap.add_argument("--granularity", default="per-channel", choices=["per-channel", "per-layer"])
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                    help="torch CPU thread counts to measure at (default 1 2)")
    ap.add_argument("--no-brevitas", action="store_true", help="skip the Brevitas twin")
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    float_model = get_model("mobilenet_v1", width=0.25, resolution=32, num_classes=10)
    x, y = torch.rand(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))
    alloc = BitAllocation.uniform(weight_layers(float_model), args.bits, args.granularity)
    brevitas = None if args.no_brevitas else brevitas_twin(float_model, args.bits)
    qat = prepare(copy.deepcopy(float_model), alloc, calibration=x)  # on the CPU, then moved
    x, y = x.to(device), y.to(device)
    models = {"float": float_model.to(device).train(), "qat": qat.to(device).train()}
    runs = {"float": ("float", False), "qat": ("qat", False)}
    if brevitas is not None:
        models["brevitas"] = brevitas.to(device).train()
        runs["brevitas"] = ("brevitas", False)
    if device.type == "cuda":
        runs["float_autocast"] = ("float", True)
    threads = [None] if device.type == "cuda" else args.threads
    results = []
    print(f"MobileNetV1-0.25 32x32 batch {args.batch}, w{args.bits}a{args.bits} "
          f"{args.granularity}, torch {torch.__version__}"
          + ("" if brevitas is None else f", Brevitas {_brevitas_version()}")
          + ("" if brevitas is not None or args.no_brevitas else " (Brevitas not installed)"))
    saved_threads = torch.get_num_threads()
    try:
        for n in threads:
            if n is not None:
                torch.set_num_threads(n)
            med = measure(models, runs, x, y, args.steps, args.rounds)
            where = (torch.cuda.get_device_name(device) if device.type == "cuda"
                     else f"CPU, {torch.get_num_threads()} thread(s)")
            print(f" {where}:")
            for name in runs:
                ratio = f"  ({med[name] / med['float']:.2f}x float)" if name != "float" else ""
                print(f"  {name + ' step:':<22}{med[name] * 1e3:8.2f} ms{ratio}")
            print(f"  QAT / float: {med['qat'] / med['float']:.2f}x  (target <= 1.5x)")
            results.append({"device": where, "threads": torch.get_num_threads(),
                            "median_step_ms": {k: round(v * 1e3, 3) for k, v in med.items()},
                            "qat_over_float": round(med["qat"] / med["float"], 3),
                            "brevitas_over_float": (round(med["brevitas"] / med["float"], 3)
                                                    if "brevitas" in med else None)})
    finally:
        torch.set_num_threads(saved_threads)
    if args.out:
        write_json_atomic(args.out, {
            "model": "mobilenet_v1-0.25-32x32", "batch": args.batch, "bits": args.bits,
            "granularity": args.granularity, "torch": torch.__version__,
            "brevitas": _brevitas_version() if brevitas is not None else None,
            "steps": args.steps, "rounds": args.rounds, "runs": results})


def _brevitas_version() -> str:
    from importlib.metadata import version

    return version("brevitas")


if __name__ == "__main__":
    main()
