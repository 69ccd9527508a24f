"""Training with PyTorch (the ``train`` extra): :class:`Trainer`, callbacks, resumable state.

This package imports torch; ``import logobrand`` never imports it.

Example:
    >>> from logobrand.training import Trainer, ModelCheckpoint  # doctest: +SKIP
"""

from logobrand.training.callbacks import (
    Callback,
    CosineSchedule,
    EarlyStopping,
    HistoryLogger,
    ModelCheckpoint,
    ProgressBar,
)
from logobrand.training.state import load_weights
from logobrand.training.trainer import History, Trainer, balanced_class_weights

__all__ = [
    "Callback",
    "CosineSchedule",
    "EarlyStopping",
    "History",
    "HistoryLogger",
    "ModelCheckpoint",
    "ProgressBar",
    "Trainer",
    "balanced_class_weights",
    "load_weights",
]
