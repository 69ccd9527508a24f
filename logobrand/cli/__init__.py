"""The ``logobrand`` command line: train, evaluate, predict, models, export, quantize,
train-boxes, import-gluon, brands.

Run ``logobrand --help`` (or ``python -m logobrand --help``) for the commands and
``logobrand COMMAND --help`` for each one's options and examples.

Exit codes: ``0`` success; ``1`` ``predict --strict`` with at least one input that failed;
``2`` a usage error or any :class:`~logobrand.errors.LogoBrandError` (one line on stderr,
never a traceback); ``130`` interrupted.

Importing this module is cheap: torch and the training code are imported only by the
commands that need them (``train``, ``export``, ``models``).

One module per command (``train``, ``train_recipe`` for ``train --recipe``, ``evaluate``,
``predict``, ``models``, ``export``, ``quantize``, ``train_boxes``, ``import_gluon``,
``brands``), each registering its own sub-parser; ``parser`` builds the parser, ``app`` runs
it, and :mod:`logobrand.cli.args` holds the helpers they share (``datasets`` and ``inputs``:
the data that ``train`` and ``evaluate`` read, the inputs of ``predict``).
"""

from __future__ import annotations

from logobrand.cli.app import main
from logobrand.cli.args import read_labels, resolve_model_dir
from logobrand.cli.datasets import load_folder_dataset
from logobrand.cli.inputs import PredictInputs
from logobrand.cli.parser import build_parser

__all__ = [
    "PredictInputs",
    "build_parser",
    "load_folder_dataset",
    "main",
    "read_labels",
    "resolve_model_dir",
]
