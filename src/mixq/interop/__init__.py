"""Standard formats in and out of mixq: ONNX (integer graph), QONNX (QAT model), QONNX import.

Placed after ``deploy`` in the package order. ``onnx`` is imported lazily by each module (a dev
dependency: ``pip install -e '.[dev]'``); only :mod:`mixq.interop.qonnx_export` imports torch.
"""
