"""``OnnxModel``: the ONNX sessions of one model directory, and the one call that runs them.

The main network (``model.onnx``) and, when the directory has one, the box head
(``box_head.onnx``, :mod:`logobrand.models.box_head`) are opened and checked against the
``config.json`` together; :meth:`OnnxModel.run` computes any of their outputs for a batch of
preprocessed photos in one pass. Everything that needs model outputs (the classifier, the
few-shot gallery, the boxes, the closer looks) goes through it.

Example:
    >>> # model = OnnxModel.load("runs/exp1/model", ModelConfig.load("runs/exp1/model"))
    >>> # out = model.run(batch, outputs=("logits", "embedding"))
    >>> # out["logits"].shape, out["embedding"].shape          # (N, C), (N, D)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnxruntime as ort

from logobrand.errors import InvalidArgumentError, ModelFormatError
from logobrand.inference.config import CONFIG_NAME, ModelConfig
from logobrand.inference.onnx import ORT_ERRORS, create_session, run_session
from logobrand.models.registry import Preprocessing

LOGITS = "logits"
"""The output holding the ``(N, C)`` class logits (the first output of older models)."""

BOX_MAPS = "box_maps"
"""The box head's output, as :meth:`OnnxModel.run` names it: ``(N, 5, h, w)``, its
``box_scores`` then its four ``box_ltrb`` maps (see
:func:`logobrand.inference.boxes.head_boxes`)."""

BOX_HEAD_FILE = "box_head.onnx"
"""File name of an exported box head (:mod:`logobrand.models.box_head`) in a model directory."""
BOX_HEAD_KEY = "box_head"
"""Key of that file in ``config.json``'s ``files``."""


class OnnxModel:
    """The ONNX sessions of a model: the network and its optional box head.

    Build one with :meth:`load`, which checks both against the config. Instances are
    immutable and safe to share between threads (``session.run`` is thread-safe).

    Args:
        session: The network's ``onnxruntime.InferenceSession``.
        preprocessing: The model's input contract (``config.json``'s ``preprocessing``).
        labels: The class labels, in output order.
        directory: The model directory (named in messages).
        box_head: The box head's session, or ``None``.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        preprocessing: Preprocessing,
        labels: Sequence[str],
        directory: Path,
        box_head: ort.InferenceSession | None = None,
    ) -> None:
        self._session = session
        self._box_head = box_head
        self._preprocessing = preprocessing
        self._labels = tuple(labels)
        self._directory = directory
        self._input_name: str = session.get_inputs()[0].name
        outputs = [o.name for o in session.get_outputs()]
        self._outputs = tuple(outputs)
        self._logits_name = LOGITS if LOGITS in outputs else outputs[0]

    @classmethod
    def load(
        cls,
        directory: Path,
        config: ModelConfig,
        *,
        threads: int | None = None,
        allow_spinning: bool = False,
    ) -> OnnxModel:
        """Open the network (and the box head that ``config.files`` names) of ``directory``.

        Raises:
            ModelFormatError: A file is missing or invalid, the network does not fit the
                config (see :func:`check_session`), or the box head reads outputs the
                network lacks.
        """
        path = directory / config.onnx_file
        session = create_session(path, threads=threads, allow_spinning=allow_spinning)
        check_session(session, config, path)
        box_head = None
        if BOX_HEAD_KEY in config.files:
            head_path = directory / config.files[BOX_HEAD_KEY]
            box_head = create_session(head_path, threads=threads, allow_spinning=False)
            outputs = {o.name for o in session.get_outputs()}
            missing = [i.name for i in box_head.get_inputs() if i.name not in outputs]
            if missing:
                raise ModelFormatError(
                    f"{head_path} reads {missing}, which {path} does not output; re-export "
                    "the model with logobrand export and train the box head again "
                    "(logobrand train-boxes)"
                )
        return cls(session, config.preprocessing, config.labels, directory, box_head)

    # -- what the model is ---------------------------------------------------------------------

    @property
    def session(self) -> ort.InferenceSession:
        """The network's ``onnxruntime.InferenceSession``."""
        return self._session

    @property
    def box_head(self) -> ort.InferenceSession | None:
        """The box head's session (``box_head.onnx``), or ``None``."""
        return self._box_head

    @property
    def directory(self) -> Path:
        """The model directory (named in messages)."""
        return self._directory

    @property
    def preprocessing(self) -> Preprocessing:
        """The model's input contract."""
        return self._preprocessing

    @property
    def labels(self) -> tuple[str, ...]:
        """The class labels, in output order."""
        return self._labels

    @property
    def outputs(self) -> tuple[str, ...]:
        """The network's output names (:data:`BOX_MAPS` is added when there is a box head)."""
        return self._outputs + ((BOX_MAPS,) if self._box_head is not None else ())

    def has_output(self, name: str) -> bool:
        """Whether :meth:`run` can compute ``name``."""
        return name in self.outputs

    def output_width(self, name: str) -> int | None:
        """Second dimension of a network output (run on a zero input when the file does not
        say), or ``None`` when there is no such output."""
        for output in self._session.get_outputs():
            if output.name == name:
                width = output.shape[1] if len(output.shape) > 1 else None
                if isinstance(width, int):
                    return width
                size = self._preprocessing.input_size
                result = self.run(np.zeros((1, 3, size, size), np.float32), (name,))[name]
                return int(result.shape[1]) if result.ndim >= 2 else None
        return None

    def with_session(self, session: Any) -> OnnxModel:
        """The same model with another network session of the same inputs and outputs
        (tests wrap it to inject failures)."""
        copy = OnnxModel.__new__(OnnxModel)
        copy.__dict__.update(self.__dict__)
        copy._session = session
        return copy

    # -- running it ----------------------------------------------------------------------------

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        """``batch`` as a C-contiguous float32 ``(N, 3, S, S)`` array.

        Raises:
            InvalidArgumentError: ``batch`` has the wrong shape.
        """
        size = self._preprocessing.input_size
        arr = np.asarray(batch)
        if arr.ndim != 4 or arr.shape[1:] != (3, size, size):
            raise InvalidArgumentError(
                f"batch has shape {arr.shape}; expected (N, 3, {size}, {size}) as produced by "
                "logobrand.transforms.preprocess"
            )
        return np.ascontiguousarray(arr, dtype=np.float32)

    def run(self, batch: np.ndarray, outputs: Sequence[str] = (LOGITS,)) -> dict[str, np.ndarray]:
        """Run the model once on preprocessed photos.

        Args:
            batch: ``(N, 3, S, S)`` float array from :func:`logobrand.transforms.preprocess`.
            outputs: Output names: any of the network's (``"logits"`` always means the
                logits), and :data:`BOX_MAPS` for the box head's maps (the head runs on the
                same pass's features).

        Returns:
            Output name -> float32 array, for each name asked for.

        Raises:
            InvalidArgumentError: ``batch`` has the wrong shape, or an output is unknown.
            ModelFormatError: ONNX Runtime fails, or the first output is not finite.
        """
        arr = self.check_batch(batch)
        unknown = [n for n in outputs if n != LOGITS and not self.has_output(n)]
        if unknown:
            raise InvalidArgumentError(
                f"the model in {self._directory} has no output {unknown[0]!r} (it has "
                f"{list(self.outputs)})"
            )
        head_inputs = (
            []
            if BOX_MAPS not in outputs or self._box_head is None
            else [i.name for i in self._box_head.get_inputs()]
        )
        wanted: list[str] = []
        for name in (n for n in outputs if n != BOX_MAPS):
            wanted.append(self._logits_name if name == LOGITS else name)
        wanted += [n for n in head_inputs if n not in wanted]
        feeds = {self._input_name: arr}
        found = dict(
            zip(wanted, run_session(self._session, wanted, feeds, self._directory), strict=True)
        )
        result = {
            name: found[self._logits_name if name == LOGITS else name]
            for name in outputs
            if name != BOX_MAPS
        }
        if head_inputs:
            assert self._box_head is not None
            scores, ltrb = self._box_head.run(None, {n: found[n] for n in head_inputs})
            result[BOX_MAPS] = np.concatenate([scores, ltrb], axis=1).astype(np.float32)
        return result

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """``(N, C)`` float32 logits of ``batch`` (an empty batch gives an empty array)."""
        arr = self.check_batch(batch)
        if arr.shape[0] == 0:
            return np.zeros((0, len(self._labels)), dtype=np.float32)
        return self.run(arr)[LOGITS]


class HasRunner(Protocol):
    """Anything that holds an :class:`OnnxModel` (a
    :class:`~logobrand.inference.LogoClassifier`)."""

    @property
    def runner(self) -> OnnxModel: ...


def as_model(model: OnnxModel | HasRunner) -> OnnxModel:
    """``model`` itself, or the runner of a classifier (functions that take a runner accept a
    classifier too)."""
    return model if isinstance(model, OnnxModel) else model.runner


def check_session(session: ort.InferenceSession, config: ModelConfig, path: Path) -> None:
    """Check that the ONNX model's input and output fit ``config``.

    Raises:
        ModelFormatError: The input is not float32 ``(N, 3, S, S)`` with a dynamic batch axis
            and ``S = preprocessing.input_size``, or the logits' width differs from the
            number of labels.
    """
    size = config.preprocessing.input_size
    n_labels = len(config.labels)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelFormatError(
            f"{path} has {len(inputs)} inputs; expected one input 'images' (N, 3, {size}, "
            f"{size}): re-export it (`logobrand export`, or save_model_dir in Python)"
        )
    meta = inputs[0]
    shape = list(meta.shape)
    fixed = [d if isinstance(d, int) else None for d in shape]
    if meta.type != "tensor(float)" or len(shape) != 4 or fixed[1:] != [3, size, size]:
        raise ModelFormatError(
            f"{path}: input {meta.name!r} is {meta.type} {shape}; the config "
            f"({CONFIG_NAME} preprocessing.input_size={size}) needs float32 (N, 3, {size}, "
            f"{size}): fix input_size in {CONFIG_NAME} or re-export the model"
        )
    if fixed[0] is not None:
        raise ModelFormatError(
            f"{path}: input {meta.name!r} has a fixed batch size {fixed[0]}; re-export it with "
            "a dynamic batch axis (save_model_dir does)"
        )
    outputs = session.get_outputs()
    out = next((o for o in outputs if o.name == LOGITS), outputs[0])
    if out.shape is not None and len(out.shape) != 2:
        raise ModelFormatError(
            f"{path}: output {out.name!r} has {len(out.shape)} dimensions {out.shape}; logobrand "
            "needs (batch, classes) logits: re-export the model"
        )
    width = out.shape[-1] if out.shape else None
    if not isinstance(width, int):
        x = np.zeros((1, 3, size, size), dtype=np.float32)
        try:
            result = session.run([out.name], {meta.name: x})[0]
        except ORT_ERRORS as exc:
            raise ModelFormatError(f"{path}: the model fails on a test input: {exc}") from exc
        width = result.shape[-1] if result.ndim == 2 else None
    if width != n_labels:
        raise ModelFormatError(
            f"{path}: output {out.name!r} has width {width} but {CONFIG_NAME} lists "
            f"{n_labels} labels; the labels do not belong to this model: fix 'labels' or "
            "re-save the model"
        )


__all__ = [
    "BOX_HEAD_FILE",
    "BOX_HEAD_KEY",
    "BOX_MAPS",
    "LOGITS",
    "HasRunner",
    "OnnxModel",
    "as_model",
    "check_session",
]
