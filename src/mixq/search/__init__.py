"""mixq.search: memory model (flash / RAM footprints) and per-layer bit allocation."""

from mixq.search.memory import (LayerShape, MemoryBudget, activation_bytes, flash_bytes,
                                layer_flash_bytes, layer_ram_bytes, layer_shapes, overhead_bytes,
                                ram_peak_bytes, weight_bytes)
from mixq.search.memory_driven import (BudgetError, Step, allocate_bits, allocate_for_model,
                                       allocation_summary)

__all__ = ["BudgetError", "LayerShape", "MemoryBudget", "Step", "activation_bytes",
           "allocate_bits", "allocate_for_model", "allocation_summary", "flash_bytes",
           "layer_flash_bytes", "layer_ram_bytes", "layer_shapes", "overhead_bytes",
           "ram_peak_bytes", "weight_bytes"]
