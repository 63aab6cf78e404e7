"""Model registry: build a reference network by name."""

from __future__ import annotations

import inspect

from torch import nn

from mixq.errors import MixqError
from mixq.models.mobilenet import mobilenet_v1
from mixq.models.tiny import demo_net, ds_cnn, resnet8
from mixq.models.zoo_mlperf import DSCNNKWS, FCAutoencoder, MobileNetV1VWW, ResNet8IC
from mixq.models.zoo_mcunet import BUILDERS as MCUNET_BUILDERS, UNAVAILABLE as MCUNET_UNAVAILABLE
from mixq.models.zoo_mobilenetv2 import MobileNetV2, mobilenet_v2_small

MODELS = {
    "mobilenet_v1": mobilenet_v1,
    "demo_net": demo_net,
    "ds_cnn": ds_cnn,
    "resnet8": resnet8,
    # plain PyTorch (captured by mixq.nn.capture)
    "mobilenet_v2": MobileNetV2,
    "mobilenet_v2_small": mobilenet_v2_small,
    "mlperf_kws_dscnn": DSCNNKWS,
    "mlperf_vww_mobilenet_v1": MobileNetV1VWW,
    "mlperf_ic_resnet8": ResNet8IC,
    "mlperf_ad_autoencoder": FCAutoencoder,
    **MCUNET_BUILDERS,  # mcunet-in0 ... mcunet-in4, mcunet-vww1
}


def get_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; options left as ``None`` take the model's default.

    Args:
        name: one of ``MODELS`` (mixq-block networks, the plain-PyTorch zoo).
        **kwargs: the builder's options (e.g. width, resolution, num_classes).

    Raises:
        MixqError: unknown model name, or an option the model does not take.

    Example:
        >>> get_model("mobilenet_v1", width=0.25, resolution=128, num_classes=None).input_shape
        (3, 128, 128)
        >>> get_model("lenet")
        Traceback (most recent call last):
        ...
        mixq.errors.MixqError: unknown model 'lenet'; known models: demo_net, ds_cnn, mcunet-in0, mcunet-in1, mcunet-in2, mcunet-in3, mcunet-in4, mcunet-vww1, mlperf_ad_autoencoder, mlperf_ic_resnet8, mlperf_kws_dscnn, mlperf_vww_mobilenet_v1, mobilenet_v1, mobilenet_v2, mobilenet_v2_small, resnet8
    """
    if name not in MODELS:
        why = (f" (published, but {MCUNET_UNAVAILABLE[name]})" if name in MCUNET_UNAVAILABLE
               else "")
        raise MixqError(f"unknown model '{name}'{why}; known models: {', '.join(sorted(MODELS))}")
    builder = MODELS[name]
    accepted = inspect.signature(builder).parameters
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise MixqError(f"model '{name}' takes no option {', '.join(unknown)}; "
                        f"it takes: {', '.join(accepted)}")
    try:
        return builder(**kwargs)
    except ValueError as e:
        raise MixqError(f"model '{name}': {e}") from None
