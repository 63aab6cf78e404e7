"""Intra-layer mixed precision: dense ternary + sparse int8 weights (issue 4).

- :mod:`mixq.intralayer.structures`: outlier structures and their mask builders (numpy).
- :mod:`mixq.intralayer.cost`: effective bits per weight (values, scales, indices; numpy).
- :mod:`mixq.intralayer.select`: outlier criteria (ternary error, error^2 x diagonal Fisher),
  selection and re-selection schedule.
- :mod:`mixq.intralayer.qat`: :class:`~mixq.intralayer.qat.IntraLayerConfig`,
  ``prepare_intralayer``, ``train_intralayer``, storage cost of a QAT model.
- :mod:`mixq.intralayer.sweep`: ``run_sweep`` (``mixq intralayer sweep``), resumable, parallel.
- The QAT layer itself is :mod:`mixq.nn.intralayer` (``SparseTernaryQuantizer``); the IR op is
  :class:`mixq.ir.graph.SparseOutliers`.

This package's ``__init__`` imports nothing, so the numpy-only modules load without torch.
"""
