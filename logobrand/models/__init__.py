"""Model registry and the built-in architectures.

Built in: ``scratch_cnn``, ``resnet18_v2`` and ``efficientnet_lite0``.
"""

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
