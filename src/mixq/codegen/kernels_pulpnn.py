"""PULP kernels with XpulpNN (target 'pulpnn'): as :mod:`mixq.codegen.kernels_pulp`, plus the
nibble (``pv.sdot*.n``, 8 x 4-bit) and crumb (``pv.sdot*.c``, 16 x 2-bit) dot products for
layers whose input codes are no wider than their 4- or 2-bit weights."""

from mixq.codegen.kernels_pulp import register_pulp

TARGET = "pulpnn"

register_pulp(TARGET, nn=True)
