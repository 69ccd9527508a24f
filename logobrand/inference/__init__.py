"""Inference with ONNX Runtime: model directories, export, and the :class:`LogoClassifier`.

Nothing here imports torch at import time; only :func:`save_model_dir`, :func:`export_onnx`
and :func:`check_onnx_matches` need it (the ``train`` extra), and they import it when called.

Names are imported on first use (like the top-level package), so that importing a light
module such as :mod:`logobrand.inference.prediction` loads neither ONNX Runtime nor OpenCV.

Example:
    >>> from logobrand.inference import LogoClassifier
    >>> # clf = LogoClassifier.from_pretrained("runs/exp1/model")
    >>> # clf.predict("photo.jpg").brand
"""

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_MODEL_DIR": "logobrand.inference.classifier",
    "LogoClassifier": "logobrand.inference.classifier",
    "FORMAT_VERSION": "logobrand.inference.config",
    "ModelConfig": "logobrand.inference.config",
    "recover_model_dir": "logobrand.inference.config",
    "write_model_dir": "logobrand.inference.config",
    "check_onnx_matches": "logobrand.inference.export",
    "export_onnx": "logobrand.inference.export",
    "save_model_dir": "logobrand.inference.export",
    "create_session": "logobrand.inference.onnx",
    "quantize_int8": "logobrand.inference.onnx",
    "usable_cpu_count": "logobrand.inference.onnx",
    "run_pipeline": "logobrand.inference.pipeline",
    "NO_LOGO": "logobrand.inference.prediction",
    "BatchFailure": "logobrand.inference.prediction",
    "Failure": "logobrand.inference.prediction",
    "LogoBox": "logobrand.inference.prediction",
    "Prediction": "logobrand.inference.prediction",
    "make_prediction": "logobrand.inference.prediction",
    "softmax": "logobrand.inference.prediction",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from logobrand.inference.classifier import (
        DEFAULT_MODEL_DIR as DEFAULT_MODEL_DIR,
    )
    from logobrand.inference.classifier import (
        LogoClassifier as LogoClassifier,
    )
    from logobrand.inference.config import (
        FORMAT_VERSION as FORMAT_VERSION,
    )
    from logobrand.inference.config import (
        ModelConfig as ModelConfig,
    )
    from logobrand.inference.config import (
        recover_model_dir as recover_model_dir,
    )
    from logobrand.inference.config import (
        write_model_dir as write_model_dir,
    )
    from logobrand.inference.export import (
        check_onnx_matches as check_onnx_matches,
    )
    from logobrand.inference.export import (
        export_onnx as export_onnx,
    )
    from logobrand.inference.export import (
        save_model_dir as save_model_dir,
    )
    from logobrand.inference.onnx import (
        create_session as create_session,
    )
    from logobrand.inference.onnx import (
        quantize_int8 as quantize_int8,
    )
    from logobrand.inference.onnx import (
        usable_cpu_count as usable_cpu_count,
    )
    from logobrand.inference.pipeline import (
        run_pipeline as run_pipeline,
    )
    from logobrand.inference.prediction import (
        NO_LOGO as NO_LOGO,
    )
    from logobrand.inference.prediction import (
        BatchFailure as BatchFailure,
    )
    from logobrand.inference.prediction import (
        Failure as Failure,
    )
    from logobrand.inference.prediction import (
        LogoBox as LogoBox,
    )
    from logobrand.inference.prediction import (
        Prediction as Prediction,
    )
    from logobrand.inference.prediction import (
        make_prediction as make_prediction,
    )
    from logobrand.inference.prediction import (
        softmax as softmax,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'logobrand.inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
