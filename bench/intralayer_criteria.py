"""Outlier criteria before QAT: what each selection buys on a sweep's trained float model.

Loads a sweep folder's ``float.ckpt`` (``mixq intralayer sweep --out DIR``, same recipe flags),
builds the dense+sparse model at one density for every structure x criterion, selects the
outliers (no training; BatchNorm statistics re-estimated, as after QAT) and prints the top-1 of
the fake-quantized model on the sweep's test split, next to the 8-bit and pure ternary models.
It isolates the selection from QAT, which recovers much of what any selection loses.

    .venv/bin/python bench/intralayer_criteria.py --from /tmp/fmnist-sweep --dataset fashion-mnist \\
        --model mobilenet_v2_small --train-samples 4000 --test-samples 1000 --float-epochs 8 \\
        [--density 0.02] [--structures 1:16 unstructured] [--criteria magnitude fisher refit]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mixq.intralayer.qat import IntraLayerConfig, prepare_intralayer, reestimate_batchnorm
from mixq.intralayer.select import OutlierSchedule
from mixq.intralayer.sweep import SweepConfig
from mixq.intralayer.trial import float_model, float_model_id, sweep_dataset
from mixq.train import evaluate, load_checkpoint


def top1(folder, cfg: SweepConfig, data, icfg: IntraLayerConfig) -> float:
    """Top-1 of the float model of ``folder`` made dense+sparse by ``icfg``, untrained."""
    model = float_model(cfg, data)
    load_checkpoint(Path(folder) / "float.ckpt", model, model_id=float_model_id(cfg))
    qat = prepare_intralayer(model, icfg, data.train.x[:256], data.input_shape)
    if icfg.density > 0:
        OutlierSchedule(icfg.density, icfg.criterion, 1, data.train).select(qat, 0)
    reestimate_batchnorm(qat, data.train)
    qat.eval()
    return evaluate(qat, data.test)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="folder", required=True)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--model", default="demo_net")
    ap.add_argument("--train-samples", type=int, default=None)
    ap.add_argument("--test-samples", type=int, default=None)
    ap.add_argument("--float-epochs", type=int, default=20)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--structures", nargs="+", default=["1:16", "unstructured"])
    ap.add_argument("--criteria", nargs="+", default=["magnitude", "fisher", "refit"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = SweepConfig(dataset=args.dataset, model=args.model, train_samples=args.train_samples,
                      test_samples=args.test_samples, float_epochs=args.float_epochs)
    data = sweep_dataset(cfg.dataset, None, (), cfg.train_samples, cfg.test_samples)
    for name, icfg in (("8-bit", IntraLayerConfig(density=0.0, middle_bits=8)),
                       ("ternary", IntraLayerConfig(density=0.0))):
        print(f"{name}: {top1(args.folder, cfg, data, icfg):.2%}", flush=True)
    for s in args.structures:
        for c in args.criteria:
            icfg = IntraLayerConfig(density=args.density, structure=s, criterion=c)
            acc = top1(args.folder, cfg, data, icfg)
            print(f"{args.density:.0%} {s} {c}: {acc:.2%}", flush=True)
