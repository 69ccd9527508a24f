"""Figures: confusion matrix, image grids and training curves (the ``plot`` extra), and
boxes drawn on photos (:func:`draw_boxes`, :func:`save_drawing`: OpenCV only, no extra).

matplotlib is imported lazily inside each function; without it they raise
:class:`~logobrand.errors.MissingExtraError` naming ``pip install 'logobrand[plot]'``.
Figures are built with the object-oriented API on an Agg canvas (no ``pyplot``, no global
backend switch, safe in scripts, servers and threads); in a notebook, display the returned
:class:`~matplotlib.figure.Figure` as the cell's last expression. When ``path`` is given the
figure is also written there atomically, in the format named by its suffix (``.png``,
``.svg``, ``.pdf``, ...).
"""

from __future__ import annotations

import io
import math
import os
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from logobrand._io import atomic_write_bytes
from logobrand.errors import InvalidArgumentError, check_int, missing_extra
from logobrand.images import ImageInput, describe_source, load_image
from logobrand.inference.prediction import Prediction
from logobrand.metrics import NO_LOGO, RecognitionReport, _as_list
from logobrand.models.registry import Preprocessing
from logobrand.transforms import denormalize, to_rgb

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from logobrand.images_fetch import FetchPolicy

PathLike = str | os.PathLike[str]


def _new_figure(width: float, height: float) -> Figure:
    """Create a Figure attached to an Agg canvas."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise missing_extra("matplotlib", "plot") from exc
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike | None, dpi: int = 100) -> None:
    if path is None:
        return
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise InvalidArgumentError(
            f"cannot save a figure as {str(target)!r}: unknown format {fmt!r}; "
            f"use one of {sorted(supported)}"
        )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi)
    atomic_write_bytes(target, buffer.getvalue())


def plot_confusion_matrix(
    report_or_matrix: RecognitionReport | np.ndarray | Sequence[Sequence[int]],
    labels: Sequence[str] | None = None,
    path: PathLike | None = None,
    *,
    normalize: bool = False,
    title: str | None = None,
    annotate_max: int = 20,
) -> Figure:
    """Draw a confusion matrix (rows: true label, columns: predicted label).

    Args:
        report_or_matrix: A :class:`~logobrand.metrics.RecognitionReport` or a square matrix of
            counts.
        labels: Tick labels; by default the report's labels, or ``0..n-1`` for a bare matrix.
        path: Also save the figure there (format from the suffix).
        normalize: Divide each row by its total (recall per class on the diagonal).
        title: Axes title.
        annotate_max: Write the numbers in the cells when there are at most this many classes
            (an integer >= 0).

    Returns:
        The :class:`~matplotlib.figure.Figure`.

    Raises:
        InvalidArgumentError: The matrix is not square or not made of finite numbers >= 0,
            ``labels`` is not a list or has the wrong length, or ``annotate_max`` is not an
            integer >= 0.
        MissingExtraError: matplotlib is not installed.

    Example:
        >>> fig = plot_confusion_matrix([[3, 1], [0, 4]], ["ups", "no-logo"])
        >>> fig.axes[0].get_xlabel()
        'predicted'
    """
    annotate_max = check_int("plot_confusion_matrix: annotate_max", annotate_max, 0)
    given = None if labels is None else _as_list(labels, "plot_confusion_matrix: labels", "names")
    if isinstance(report_or_matrix, RecognitionReport):
        matrix = np.asarray(report_or_matrix.confusion, dtype=np.float64)
        names = given if given is not None else list(report_or_matrix.labels)
    else:
        try:
            matrix = np.asarray(report_or_matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                "plot_confusion_matrix: expected a square matrix of counts (numbers)"
            ) from None
        names = given if given is not None else [str(i) for i in range(len(matrix))]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.size == 0:
        raise InvalidArgumentError(
            f"plot_confusion_matrix: expected a non-empty square matrix, got shape {matrix.shape}"
        )
    if not np.isfinite(matrix).all() or matrix.min() < 0:
        raise InvalidArgumentError(
            "plot_confusion_matrix: the matrix must hold finite numbers >= 0 (counts or shares)"
        )
    n = matrix.shape[0]
    if len(names) != n:
        raise InvalidArgumentError(
            f"plot_confusion_matrix: {len(names)} labels for a {n}x{n} matrix"
        )
    values = matrix
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        values = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = max(4.0, 0.32 * n + 2.5)
    fig = _new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), names, rotation=90, fontsize=8 if n > 12 else 10)
    ax.set_yticks(range(n), names, fontsize=8 if n > 12 else 10)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    if n <= annotate_max:
        peak = float(values.max()) if values.size else 0.0
        counts = not normalize and bool(np.all(values == np.round(values)))
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                text = f"{int(v)}" if counts else f"{v:.2f}"
                color = "white" if peak and v > 0.6 * peak else "black"
                ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)
    _save(fig, path)
    return fig


def _as_display_images(
    images: np.ndarray | Sequence[np.ndarray], pre: Preprocessing | None
) -> list[np.ndarray]:
    items = _as_list(images, "show_images: images", "images or an (N, H, W, C) array")
    if not items:
        raise InvalidArgumentError("show_images: no images to show")
    out: list[np.ndarray] = []
    for index, item in enumerate(items):
        arr = np.asarray(item)
        if arr.dtype == np.uint8:
            out.append(to_rgb(arr))
        elif np.issubdtype(arr.dtype, np.floating) and arr.ndim == 3 and arr.shape[0] == 3:
            if pre is None:
                raise InvalidArgumentError(
                    f"show_images: image {index} is a normalised CHW float array; pass the "
                    "model's Preprocessing as pre= to undo the normalisation"
                )
            out.append(denormalize(arr, pre))
        else:
            raise InvalidArgumentError(
                f"show_images: image {index} has shape {arr.shape} dtype {arr.dtype}; expected "
                "uint8 HxW[xC] or normalised float32 3xHxW (with pre=)"
            )
    return out


def show_images(
    images: np.ndarray | Sequence[np.ndarray],
    labels: Sequence[object] | None = None,
    *,
    pre: Preprocessing | None = None,
    ncols: int = 8,
    path: PathLike | None = None,
    title: str | None = None,
) -> Figure:
    """Show images in a grid, e.g. a batch of augmented training samples.

    Args:
        images: ``uint8`` images (an ``(N, H, W, 3)`` array or a list of HxW[xC] arrays of any
            sizes), or normalised ``float32`` CHW images (``(N, 3, S, S)``, e.g. a training
            batch) together with ``pre``.
        labels: One caption per image (``None`` is shown as ``"no-logo"``); any iterable (a
            generator is read once), but not a single string.
        pre: The preprocessing used to normalise float images.
        ncols: Images per row (an integer >= 1).
        path: Also save the figure there (format from the suffix).
        title: Figure title.

    Returns:
        The :class:`~matplotlib.figure.Figure`.

    Raises:
        InvalidArgumentError: No images, a bad image, float images without ``pre``, a
            caption count that differs from the image count, or ``ncols`` is not an integer
            >= 1.
        MissingExtraError: matplotlib is not installed.

    Example:
        >>> import numpy as np
        >>> fig = show_images(np.zeros((3, 8, 8, 3), np.uint8), ["a", "b", None], ncols=2)
        >>> len(fig.axes)
        4
    """
    ncols = check_int("show_images: ncols", ncols, 1)
    shown = _as_display_images(images, pre)
    captions = None if labels is None else _as_list(labels, "show_images: labels", "captions")
    if captions is not None and len(captions) != len(shown):
        raise InvalidArgumentError(
            f"show_images: {len(captions)} labels for {len(shown)} images; pass one per image"
        )
    cols = min(ncols, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = _new_figure(1.8 * cols, 1.9 * rows + (0.4 if title else 0.0))
    axes = fig.subplots(rows, cols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= len(shown):
            continue
        ax.imshow(shown[k], interpolation="nearest" if max(shown[k].shape[:2]) < 64 else None)
        if captions is not None:
            caption = NO_LOGO if captions[k] is None else str(captions[k])
            ax.set_title(caption, fontsize=9)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


_ACCURACY_KEYS = ("train_accuracy", "val_accuracy", "test_accuracy")
_LOSS_KEYS = ("loss", "val_loss")


def _history_rows(history: Any) -> list[Mapping[str, Any]]:
    rows = getattr(history, "rows", history)
    if isinstance(rows, Mapping) or not isinstance(rows, Iterable):
        raise InvalidArgumentError(
            "plot_history: expected a list of per-epoch dicts (or an object with .rows), got "
            f"{type(history).__name__}"
        )
    out = list(rows)
    for index, row in enumerate(out):
        if not isinstance(row, Mapping):
            raise InvalidArgumentError(
                f"plot_history: row {index} is a {type(row).__name__}, expected a dict"
            )
    if not out:
        raise InvalidArgumentError("plot_history: the history is empty (no epoch finished)")
    return out


def _series(rows: list[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    for index, row in enumerate(rows):
        value = row.get(key)
        if value is None or (isinstance(value, str) and value == ""):  # empty history.csv cell
            continue
        try:
            y = float(value)
            x = float(row.get("epoch", index + 1))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"history row {index + 1}: {key} {value!r} or its epoch is not a number"
            ) from exc
        if math.isnan(y):
            continue
        xs.append(x)
        ys.append(y)
    return xs, ys


def plot_history(
    history: Iterable[Mapping[str, Any]] | Any,
    path: PathLike | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Plot loss and accuracies per epoch.

    Args:
        history: A list of per-epoch dicts with keys ``epoch``, ``loss`` and optionally
            ``val_loss``, ``train_accuracy``, ``val_accuracy``, ``test_accuracy`` (missing,
            ``None``, empty or NaN values are skipped; numbers may be strings, as
            ``csv.DictReader`` reads ``history.csv``), or an object whose ``rows`` attribute
            is such a list.
        path: Also save the figure there (format from the suffix).
        title: Figure title.

    Returns:
        The :class:`~matplotlib.figure.Figure` (left: loss, right: accuracies).

    Raises:
        InvalidArgumentError: The history is empty or not a list of dicts.
        MissingExtraError: matplotlib is not installed.

    Example:
        >>> rows = [{"epoch": 1, "loss": 2.0, "train_accuracy": 0.4, "val_accuracy": 0.35},
        ...         {"epoch": 2, "loss": 1.2, "train_accuracy": 0.6, "val_accuracy": 0.5}]
        >>> [ax.get_title() for ax in plot_history(rows).axes]
        ['loss', 'accuracy']
    """
    rows = _history_rows(history)
    fig = _new_figure(10.0, 4.0)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key in _LOSS_KEYS:
        xs, ys = _series(rows, key)
        if xs:
            loss_ax.plot(xs, ys, marker="o", markersize=3, label=key)
    for key in _ACCURACY_KEYS:
        xs, ys = _series(rows, key)
        if xs:
            acc_ax.plot(xs, ys, marker="o", markersize=3, label=key.replace("_accuracy", ""))
    if not loss_ax.lines and not acc_ax.lines:
        found = sorted({str(k) for row in rows for k in row} - {"epoch"})
        raise InvalidArgumentError(
            f"plot_history: no value to plot; the rows have {found or 'no keys'}, expected some "
            f"of {[*_LOSS_KEYS, *_ACCURACY_KEYS]} (a Trainer's history or its history.csv)"
        )
    loss_ax.set_title("loss")
    acc_ax.set_title("accuracy")
    acc_ax.set_ylim(0.0, 1.02)
    for ax in (loss_ax, acc_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


# -- boxes drawn on photos (predict --draw) ---------------------------------------------------


def draw_boxes(
    image: np.ndarray,
    prediction: Prediction,
    *,
    color: tuple[int, int, int] = (255, 40, 40),
    thickness: int | None = None,
) -> np.ndarray:
    """Draw a prediction's boxes and labels on a copy of an RGB photo.

    Args:
        image: ``(H, W, 3)`` RGB ``uint8`` photo, as :func:`logobrand.images.load_image`
            returns it (the boxes are in its pixels).
        prediction: A prediction made with ``boxes=True``.
        color: RGB colour of the boxes.
        thickness: Line width in pixels (default: scaled to the photo, at least 2).

    Returns:
        A new ``uint8`` array with the boxes drawn (``brand score`` above each box); the
        photo itself when there is no box. Without any box, ``brand``/``no logo`` is
        written in the corner.

    Raises:
        InvalidArgumentError: ``image`` is not an ``(H, W, 3)`` uint8 array.

    Example:
        >>> # pred = clf.predict("a.jpg", boxes=True)
        >>> # drawn = draw_boxes(load_image("a.jpg"), pred)
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InvalidArgumentError(
            f"image must be an (H, W, 3) uint8 RGB array, got {arr.dtype} {arr.shape}"
        )
    out = np.ascontiguousarray(arr.copy())
    height, width = out.shape[:2]
    line = thickness if thickness is not None else max(2, round(max(height, width) / 250))
    font_scale = max(0.4, max(height, width) / 900)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if not prediction.boxes:
        text = prediction.brand if prediction.brand is not None else "no logo"
        _label(out, f"{text} {prediction.score:.2f}", (0, 0), color, font, font_scale, line)
        return out
    for box in prediction.boxes:
        p1 = (round(box.x1), round(box.y1))
        p2 = (max(p1[0], round(box.x2) - 1), max(p1[1], round(box.y2) - 1))
        cv2.rectangle(out, p1, p2, color, line)
        _label(out, f"{box.label} {box.score:.2f}", p1, color, font, font_scale, line)
    return out


def save_drawing(
    source: ImageInput,
    prediction: Prediction,
    directory: str | os.PathLike[str],
    *,
    taken: set[str] | None = None,
    fetch_policy: FetchPolicy | None = None,
    pixels: np.ndarray | None = None,
) -> Path:
    """Draw a prediction on its photo and write it as a JPEG into ``directory``, atomically.

    The photo is drawn on ``pixels`` when given (its full-resolution RGB pixels, as
    :meth:`PredictionStream.predict_many_with_pixels
    <logobrand.inference.stream.PredictionStream.predict_many_with_pixels>` hands them
    over), else read again from ``source`` (for a URL: fetched again). The file is named
    after the source (``photos/a.png`` -> ``a.jpg``, a URL after its last path segment,
    other inputs ``photo.jpg``); a name already in ``taken`` or already a file in
    ``directory`` gets ``-2``, ``-3``, ... appended (an existing file, such as the photo
    itself when ``directory`` is its folder, is never overwritten), and the name used is
    added to ``taken``.

    Args:
        source: The input the prediction was made from.
        prediction: A prediction made with ``boxes=True``.
        directory: Output folder (created when missing).
        taken: File names already written in this run (updated).
        fetch_policy: Fetch policy for URL sources.
        pixels: The photo, already decoded at full resolution (``(H, W, 3)`` uint8 RGB);
            ``None`` reads it from ``source``.

    Returns:
        The path written.

    Raises:
        ImageDecodeError: The photo cannot be read again.
        FetchError: A URL cannot be fetched again.

    Example:
        >>> # save_drawing("a.jpg", clf.predict("a.jpg", boxes=True), "drawn")  # drawn/a.jpg
    """
    if pixels is None:
        pixels = load_image(source, fetch_policy=fetch_policy)
    drawn = draw_boxes(pixels, prediction)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise InvalidArgumentError(f"cannot encode the drawing of {describe_source(source)}")
    used = taken if taken is not None else set()
    out = Path(directory)
    stem = _file_stem(source)
    name, n = f"{stem}.jpg", 1
    while name in used or os.path.lexists(out / name):
        n += 1
        name = f"{stem}-{n}.jpg"
    used.add(name)
    out.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(out / name, encoded.tobytes())


def _file_stem(source: object) -> str:
    """A safe file stem for the drawing of ``source``."""
    stem = ""
    if isinstance(source, (str, os.PathLike)):
        text = os.fsdecode(os.fspath(source))
        if "://" in text:
            text = urllib.parse.urlsplit(text).path
        stem = PurePosixPath(text.replace("\\", "/")).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")
    return stem[:100] or "photo"


def _label(
    img: np.ndarray,
    text: str,
    corner: tuple[int, int],
    color: tuple[int, int, int],
    font: int,
    scale: float,
    line: int,
) -> None:
    """Write ``text`` on a filled band just above ``corner`` (inside the photo)."""
    weight = max(1, line // 2)
    (tw, th), base = cv2.getTextSize(text, font, scale, weight)
    x = min(max(0, corner[0]), max(0, img.shape[1] - tw - 4))
    y = corner[1] - th - base - 4
    if y < 0:
        y = corner[1]
    cv2.rectangle(img, (x, y), (x + tw + 4, y + th + base + 4), color, -1)
    cv2.putText(img, text, (x + 2, y + th + 2), font, scale, (255, 255, 255), weight, cv2.LINE_AA)


__all__ = ["draw_boxes", "plot_confusion_matrix", "plot_history", "save_drawing", "show_images"]
