"""Inference with ONNX Runtime: model directories, export, and the :class:`LogoClassifier`.

Nothing here imports torch at import time; only :func:`save_model_dir`, :func:`export_onnx`
and :func:`check_onnx_matches` need it (the ``train`` extra), and they import it when called.

Example:
    >>> from logobrand.inference import LogoClassifier
    >>> # clf = LogoClassifier.from_pretrained("runs/exp1/model")
    >>> # clf.predict("photo.jpg").brand
"""

from logobrand.inference.classifier import DEFAULT_MODEL_DIR, LogoClassifier
from logobrand.inference.config import (
    FORMAT_VERSION,
    ModelConfig,
    recover_model_dir,
    write_model_dir,
)
from logobrand.inference.export import check_onnx_matches, export_onnx, save_model_dir
from logobrand.inference.onnx import create_session, quantize_int8, usable_cpu_count
from logobrand.inference.pipeline import run_pipeline
from logobrand.inference.prediction import (
    NO_LOGO,
    BatchFailure,
    Failure,
    LogoBox,
    Prediction,
    make_prediction,
    softmax,
)

__all__ = [
    "DEFAULT_MODEL_DIR",
    "FORMAT_VERSION",
    "NO_LOGO",
    "BatchFailure",
    "Failure",
    "LogoBox",
    "LogoClassifier",
    "ModelConfig",
    "Prediction",
    "check_onnx_matches",
    "create_session",
    "export_onnx",
    "make_prediction",
    "quantize_int8",
    "recover_model_dir",
    "run_pipeline",
    "save_model_dir",
    "softmax",
    "usable_cpu_count",
    "write_model_dir",
]
