"""mixq.models: reference networks built only from mixq's quantizable float blocks."""

from mixq.models.mobilenet import mobilenet_v1
from mixq.models.registry import MODELS, get_model
from mixq.models.tiny import demo_net, ds_cnn, resnet8
from mixq.models.trace import LayerCall, layer_kind, trace_weight_layers, weight_layers

__all__ = ["MODELS", "LayerCall", "demo_net", "ds_cnn", "get_model", "layer_kind", "mobilenet_v1",
           "resnet8", "trace_weight_layers", "weight_layers"]
