"""mixq: mixed low-precision quantized networks from PyTorch training to Cortex-M.

The top-level names are imported lazily so that deployment-only use (``mixq.ir``,
``mixq.codegen``, ``mixq.deploy``) never imports torch.
"""

__version__ = "0.1.0"

_LAZY = {
    "BitAllocation": "mixq.quant.spec",
    "LayerBits": "mixq.quant.spec",
    "prepare": "mixq.nn.prepare",
    "integerize": "mixq.ir.capture",
    "interpret": "mixq.ir.interpret",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mixq' has no attribute '{name}'")
