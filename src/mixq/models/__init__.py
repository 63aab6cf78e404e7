"""mixq.models: reference networks: mixq-block versions (demo_net, ds_cnn, resnet8,
mobilenet_v1) and a plain-PyTorch zoo captured like any user model (MobileNetV2, the MLPerf Tiny
reference models, the released MCUNets); :mod:`mixq.models.zoo` catalogues the zoo with each
model's family, size and benchmark budget."""

from mixq.models.mobilenet import mobilenet_v1
from mixq.models.registry import MODELS, get_model
from mixq.models.tiny import demo_net, ds_cnn, resnet8
from mixq.models.zoo import ZOO, ZooEntry, ZooFamily, zoo_candidates, zoo_entry, zoo_names
from mixq.models.zoo_mcunet import MCUNet
from mixq.models.zoo_mlperf import DSCNNKWS, FCAutoencoder, MobileNetV1VWW, ResNet8IC
from mixq.models.zoo_mobilenetv2 import MobileNetV2
from mixq.models.trace import LayerCall, layer_kind, trace_weight_layers, weight_layers

__all__ = ["ZOO", "ZooEntry", "ZooFamily", "zoo_candidates", "zoo_entry", "zoo_names", "MCUNet",
           "DSCNNKWS", "FCAutoencoder", "MobileNetV1VWW", "MobileNetV2", "ResNet8IC", "MODELS", "LayerCall", "demo_net", "ds_cnn", "get_model", "layer_kind", "mobilenet_v1",
           "resnet8", "trace_weight_layers", "weight_layers"]
