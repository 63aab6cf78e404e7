"""mixq.nn: QAT building blocks and ``prepare(model, allocation)``."""

from mixq.nn.layers import ConvBNReLU, GlobalAvgPool, ResidualAdd
from mixq.nn.prepare import QuantModel, prepare

__all__ = ["ConvBNReLU", "GlobalAvgPool", "ResidualAdd", "QuantModel", "prepare"]
