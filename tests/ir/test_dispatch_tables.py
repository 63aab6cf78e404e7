"""Every IR consumer has one dispatch table keyed by IR node type, and each covers every type.

Adding an IR node type without teaching the interpreter, code generation, the memory planner,
the PULP cluster latency model and the accelerator lowering about it fails here (the hw table may map a type to its explicit
"unsupported" handler).
"""

import pytest

from mixq.codegen.layers import LAYER_CODE
from mixq.deploy.cluster import GEOMETRIES
from mixq.hw.program import LOWERINGS, _unsupported, lower_node
from mixq.ir.graph import NODE_TYPES, AvgPool, Node
from mixq.ir.interpret import INTERPRETERS, run_node
from mixq.ir.memory import TENSOR_ACCESS
from mixq.hw.config import EngineConfig, HwConfigError

TABLES = {"interpret": INTERPRETERS, "codegen": LAYER_CODE, "memory plan": TENSOR_ACCESS,
          "hw": LOWERINGS, "cluster latency model": GEOMETRIES}


def test_node_types_are_the_node_union():
    assert set(NODE_TYPES) == set(Node.__args__)


@pytest.mark.parametrize("consumer", sorted(TABLES))
def test_table_covers_every_node_type(consumer):
    table = TABLES[consumer]
    assert set(table) == set(NODE_TYPES), (
        f"{consumer}: missing {[t.__name__ for t in NODE_TYPES if t not in table]}")
    assert all(callable(f) for f in table.values())


def test_unknown_node_type_is_a_type_error():
    class Fake:
        name, inputs, output = "f", ("x",), "y"

    with pytest.raises(TypeError, match="unknown IR node type Fake"):
        run_node(Fake(), {})


def test_hw_maps_pool_to_unsupported():
    assert LOWERINGS[AvgPool] is _unsupported
    with pytest.raises(HwConfigError, match="does not run on the engine"):
        lower_node(AvgPool("p", "x", "y"), None, None, EngineConfig(lanes=16, channels=4))
