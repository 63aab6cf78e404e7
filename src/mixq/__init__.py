"""mixq: mixed low-precision quantized networks from PyTorch training to Cortex-M.

Public API: ``mixq.prepare(model, bits, *, example_input, calibration, input_mean, input_std)``,
``mixq.allocate(model, *, example_input, flash_bytes, ram_bytes, target=None)`` (with a target:
closed on its linked build), ``mixq.integerize(qat)``,
``mixq.deploy(graph, out_dir, target="stm32h7", emulate=100)`` (see :mod:`mixq.api`).

The top-level names are imported lazily so that deployment-only use (``mixq.ir``,
``mixq.codegen``, ``mixq.deploy``) never imports torch.
"""

__version__ = "0.1.0"

_LAZY = {
    "BitAllocation": "mixq.quant.spec",
    "LayerBits": "mixq.quant.spec",
    "prepare": "mixq.api",
    "allocate": "mixq.api",
    "allocate_on_target": "mixq.api",
    "integerize": "mixq.api",
    "interpret": "mixq.ir.interpret",
}


def __getattr__(name):
    import importlib

    if name == "deploy":  # the mixq.deploy package is callable: mixq.deploy(graph, out_dir, ...)
        return importlib.import_module("mixq.deploy")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mixq' has no attribute '{name}'")
