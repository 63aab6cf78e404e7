"""The plain-PyTorch model zoo (issue 10): every zoo model builds, is captured whole, allocates
under its benchmark's budget; every MCUNet integerizes exactly and two of them run bit-exact on
the emulated Cortex-M7 (at a reduced input size: same weights and blocks, fewer pixels); the
MLPerf Tiny models and a small MobileNetV2 go through ``mixq demo --model``'s flow (int8 and mixed, host C and
emulator bit-exact, profiled). Every zoo model at full size, profiled: ``bench/zoo.py`` (README)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mixq
from mixq.cli import main
from mixq.deploy.isa import isa_record
from mixq.deploy.run import emulate_graph
from mixq.ir.capture import input_codes, integer_codes
from mixq.models import get_model
from mixq.models.zoo import ZOO, ZooFamily
from mixq.platform import get_platform
from mixq.search.memory import flash_bytes, layer_shapes, ram_peak_bytes
from mixq.zoo_demo import run_zoo_model, zoo_table


def _params(model):
    return sum(m.weight.numel() for m in model.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))


@pytest.mark.parametrize("entry", ZOO, ids=[e.name for e in ZOO])
def test_zoo_model_captured_whole_and_allocated_under_budget(entry):
    model = entry.build()
    shapes = layer_shapes(model)
    assert sum(s.weight_count for s in shapes) == _params(model)
    x = torch.rand(1, *model.input_shape)
    budget = (entry.flash_bytes, entry.ram_bytes)
    alloc = mixq.allocate(model, example_input=x, flash_bytes=budget[0], ram_bytes=budget[1])
    assert flash_bytes(shapes, alloc) <= budget[0] and ram_peak_bytes(shapes, alloc) <= budget[1]


MCUNETS = [e for e in ZOO if e.family == ZooFamily.MCUNET]
# C builds cost ~1 s per 100k weights: two MCUNets with every block type (dw 3/5/7 at stride 1
# and 2, residual adds, widths off the DSP blocking) run on the emulator, the others stop at
# ir.interpret == QAT (bench/zoo.py deploys all of them at full size)
EMULATED = ("mcunet-in1", "mcunet-vww1")


@pytest.mark.slow
@pytest.mark.parametrize("entry", MCUNETS, ids=[e.name for e in MCUNETS])
def test_mcunet_integerizes_exactly_and_runs_bitexact_on_the_m7(tmp_path, entry):
    # 32x32 inputs: every block, kernel (dw 3/5/7, stride 2 at 2x2 maps included) and weight of
    # the published network, 1/2 to 1/30 of its pixels; the emulator runs without the profiling
    # hook (bench/zoo.py profiles the full-size networks)
    torch.manual_seed(0)
    model = get_model(entry.model, resolution=32)
    x = torch.rand(2, *model.input_shape)
    alloc = mixq.allocate(model, example_input=x[:1], flash_bytes=entry.flash_bytes,
                          ram_bytes=entry.ram_bytes)
    qat = mixq.prepare(model, alloc, example_input=x[:1], calibration=x).eval()
    graph = mixq.integerize(qat)
    codes = input_codes(qat, x)
    np.testing.assert_array_equal(mixq.interpret(graph, codes), integer_codes(qat, x))
    if entry.name not in EMULATED:
        return
    platform = get_platform(entry.target)
    run = emulate_graph(graph, tmp_path, isa_record(platform.isa, platform.cpu),
                        platform.kernels, codes[:1], None)
    assert run.mismatches == 0 and run.profile is None


# (name, builder options, mixed budget as a fraction of the 8-bit footprint or None): at its
# benchmark budget every zoo model fits at 8 bits, so DS-CNN's mixed model gets half of it
SMALL = [("mlperf_kws_dscnn", None, 0.5), ("mlperf_vww_mobilenet_v1", None, None),
         ("mlperf_ic_resnet8", None, None),
         # MobileNetV2 at 48x48: at 96x96 its ~10^8 emulated instructions take minutes to profile
         ("mobilenet_v2", {"width": 0.35, "resolution": 48, "num_classes": 2}, None)]


@pytest.mark.slow
@pytest.mark.parametrize("name,options,fraction", SMALL, ids=[n for n, _, _ in SMALL])
def test_zoo_demo_flow_deploys_bitexact_within_budget(tmp_path, name, options, fraction):
    runs = run_zoo_model(name, tmp_path, emulate=2, options=options, mixed_fraction=fraction)
    assert [r.allocation for r in runs] == ["int8", "mixed"]
    assert all(r.bitexact and r.host_bitexact in (None, True) for r in runs)
    assert runs[1].fits and runs[1].flash_bytes > 0 and runs[1].instructions > runs[1].macs
    assert (tmp_path / "report.md").read_text() == zoo_table(runs)
    if fraction:  # a real mixed-precision network: sub-byte layers, smaller flash
        assert runs[1].bits != "8/8" and runs[1].flash_bytes < runs[0].flash_bytes
    print(zoo_table(runs))


@pytest.mark.slow
def test_mixq_demo_model_deploys_a_zoo_model(tmp_path, capsys):
    assert main(["demo", "--model", "mlperf_ad_autoencoder", "--out", str(tmp_path),
                 "--emulate", "1"]) == 0
    runs = json.loads((tmp_path / "report.json").read_text())["runs"]
    assert [(r["allocation"], r["bitexact"], r["host_bitexact"], r["fits"]) for r in runs] == [
        ("int8", True, True, True), ("mixed", True, True, True)]
    assert "| mlperf_ad_autoencoder | mixed | 8/8 |" in capsys.readouterr().out
