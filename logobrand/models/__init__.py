"""Model registry and built-in architectures (``scratch_cnn``, ``resnet18_v2``, ``efficientnet_lite0``)."""

from logobrand.models.registry import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelSpec,
    Preprocessing,
    create_model,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelSpec",
    "Preprocessing",
    "create_model",
    "get_model_spec",
    "list_models",
    "register_model",
]
