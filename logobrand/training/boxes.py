"""Train the box head (:mod:`logobrand.models.box_head`) on a model's frozen trunk.

The trunk is the model's own ONNX file: its ``"features_s16"`` and ``"features_s32"`` outputs
are computed once per training photo, so any exported EfficientNet-Lite0 model directory
(the bundled one included) gets a head without its PyTorch weights. Training photos:

* photos with annotated boxes (e.g. :class:`~logobrand.data.FlickrLogos27Dataset` samples),
  each also mirrored left-right;
* synthetic composites (:func:`compose_box_photos`): brand artwork rendered from SVG files
  (simple-icons) and pasted on photos without logos, bare or on a plate, tilted in
  perspective, shaded, blurred and JPEG-compressed; their boxes are known by construction.
  Without them the head never learns small logos (annotated photos mostly show large ones).

Targets (FCOS-like): a cell of the fine grid whose centre lies inside a box is a positive of
the smallest such box (a box containing no cell centre takes the cell under its centre); its
score target is the box's "centerness" at the cell (at least 0.2) and its distance targets
the cell centre's distances to the box's sides. Loss: binary cross-entropy on the scores,
weighted by the squared error (a soft focal loss), plus twice the generalised IoU loss of the
positives' boxes. AdamW with a one-cycle schedule.

Example:
    >>> # from logobrand.data import FlickrLogos27Dataset
    >>> # clf = LogoClassifier.from_pretrained("runs/lite0")
    >>> # photos = [s for s in FlickrLogos27Dataset("fl27").samples if s.boxes]
    >>> # extra = compose_box_photos("simple-icons", backgrounds=nologo_paths, n=2000)
    >>> # head = train_box_head(clf, photos, composites=extra)
    >>> # save_box_head(clf, head, "runs/lite0-boxes")
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np

from logobrand.data import Sample
from logobrand.errors import ImageDecodeError, InvalidArgumentError, missing_extra
from logobrand.images import ImageInput, load_image
from logobrand.inference.classifier import BOX_HEAD_FILE, BOX_HEAD_KEY
from logobrand.inference.config import copy_model_files
from logobrand.inference.export import quiet_torch_export
from logobrand.inference.gallery import BOX_CROPS
from logobrand.transforms import preprocess

if TYPE_CHECKING:
    from logobrand.inference.classifier import LogoClassifier

logger = logging.getLogger(__name__)


NormBox = tuple[float, float, float, float]
"""A box as ``(x1, y1, x2, y2)`` in fractions of the photo's width and height."""
BoxedPhoto = tuple[np.ndarray, list[NormBox]]
"""An RGB photo with its boxes (fractions of its sides)."""


# -- synthetic composites -------------------------------------------------------------------


def compose_box_photos(
    artwork: str | os.PathLike[str],
    backgrounds: Sequence[ImageInput],
    *,
    n: int = 2000,
    seed: int = 0,
    scale: tuple[float, float] = (0.06, 0.7),
    exclude: Sequence[str] = (),
) -> list[BoxedPhoto]:
    """Paste rendered brand artwork onto photos without logos; the boxes are known.

    Each composite takes a random background and pastes 0 to 3 random icons (one in ten
    photos gets none: a negative). An icon is rendered in its brand colour, white, black or a
    random colour, with a longer side log-uniform in ``scale`` times the photo's shorter side;
    one in three sits on a plate of another colour (the plate is then the box); it is turned
    by up to 20 degrees and skewed in perspective, shaded, then the photo gets noise, a light
    blur and JPEG compression (quality 60-94).

    Args:
        artwork: A simple-icons folder (``simple-icons.json`` and ``icons/*.svg``).
        backgrounds: Photos without logos (paths or arrays); decoded once each.
        n: Number of composites.
        seed: Seed of every random choice (same seed, same photos).
        scale: Range of the icon's longer side as a share of the photo's shorter side.
        exclude: Brand names whose icons are never used: an icon is left out when its title
            or slug, lower-cased with only letters and digits kept, contains one of them
            (``"google"`` also leaves out Google Chrome). Use it to keep the trained brands'
            artwork out of negatives.

    Returns:
        ``n`` ``(photo, boxes)`` pairs.

    Raises:
        InvalidArgumentError: No usable background or icon, or ``n`` < 1.
        MissingExtraError: cairosvg (the ``art`` extra) is not installed.
    """
    from logobrand.artwork import brand_key, parse_hex_color, render_svg

    if n < 1:
        raise InvalidArgumentError(f"n must be >= 1, got {n}")
    folder = Path(artwork)
    index = folder / "simple-icons.json"
    if not index.is_file():
        raise InvalidArgumentError(
            f"{index} is missing: pass a simple-icons folder (simple-icons.json + icons/)"
        )
    banned = [key for key in (brand_key(name) for name in exclude) if key]
    icons = [
        (folder / "icons" / f"{entry['slug']}.svg", entry.get("hex", "000000"))
        for entry in json.loads(index.read_text(encoding="utf-8"))
        if isinstance(entry, dict)
        and "slug" in entry
        and not any(
            key in brand_key(str(entry["slug"])) or key in brand_key(str(entry.get("title", "")))
            for key in banned
        )
    ]
    icons = [(path, hex_color) for path, hex_color in icons if path.is_file()]
    pictures = []
    for source in backgrounds:
        try:
            pictures.append(load_image(source))
        except ImageDecodeError as exc:
            logger.warning("background skipped: %s", exc)
    if not icons or not pictures:
        raise InvalidArgumentError(
            f"compose_box_photos needs icons and backgrounds; found {len(icons)} icon(s) in "
            f"{folder / 'icons'} and {len(pictures)} decodable background(s)"
        )
    rng = np.random.default_rng(seed)
    out: list[BoxedPhoto] = []
    while len(out) < n:
        canvas = pictures[int(rng.integers(len(pictures)))].astype(np.float32)
        height, width = canvas.shape[:2]
        boxes: list[NormBox] = []
        for _ in range(int(rng.choice([0, 1, 1, 1, 1, 1, 1, 2, 2, 3]))):
            path, hex_color = icons[int(rng.integers(len(icons)))]
            side = float(np.exp(rng.uniform(np.log(scale[0]), np.log(scale[1])))) * min(
                height, width
            )
            pick = rng.random()
            color = (
                parse_hex_color(hex_color)
                if pick < 0.4
                else (255, 255, 255)
                if pick < 0.6
                else (0, 0, 0)
                if pick < 0.8
                else tuple(int(v) for v in rng.integers(0, 256, 3))
            )
            try:
                render = render_svg(path, max(8, int(side)), color)  # type: ignore[arg-type]
            except ImageDecodeError:
                continue
            box = _paste(rng, canvas, render, color)  # type: ignore[arg-type]
            if box is not None:
                boxes.append(box)
        noisy = canvas + rng.normal(0.0, rng.uniform(0.0, 6.0), canvas.shape)
        photo = np.clip(noisy, 0, 255).astype(np.uint8)
        if rng.random() < 0.4:
            photo = np.asarray(cv2.GaussianBlur(photo, (3, 3), float(rng.uniform(0.3, 1.0))))
        quality = int(rng.integers(60, 95))
        ok, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:  # the channel order is kept through the round trip
            photo = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR))
        out.append((np.ascontiguousarray(photo), boxes))
    return out


def _paste(
    rng: np.random.Generator,
    canvas: np.ndarray,
    render: np.ndarray,
    color: tuple[int, int, int],
) -> NormBox | None:
    """Paste one RGBA render into ``canvas`` (in place); its box, or ``None`` if it did not fit."""
    height, width = canvas.shape[:2]
    rgb = render[..., :3].astype(np.float32)
    alpha = render[..., 3:4].astype(np.float32) / 255.0 * rng.uniform(0.75, 1.0)
    lh, lw = rgb.shape[:2]
    if rng.random() < 0.35:  # a plate behind the mark
        pad = int(rng.uniform(0.08, 0.35) * max(lh, lw)) + 1
        plate_color = (
            255.0 - np.array(color, np.float32)
            if rng.random() < 0.5
            else rng.integers(0, 256, 3).astype(np.float32)
        )
        plate = np.ones((lh + 2 * pad, lw + 2 * pad, 3), np.float32) * plate_color
        inner = plate[pad : pad + lh, pad : pad + lw]
        inner[:] = inner * (1 - alpha) + rgb * alpha
        rgb = plate
        alpha = np.full((*plate.shape[:2], 1), rng.uniform(0.85, 1.0), np.float32)
        lh, lw = rgb.shape[:2]
    if lh < 3 or lw < 3:
        return None
    corners = np.array([[0, 0], [lw, 0], [lw, lh], [0, lh]], np.float32)
    turn = np.deg2rad(rng.uniform(-20, 20))
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    moved = (corners - [lw / 2, lh / 2]) @ rotation.T + rng.uniform(-0.12, 0.12, (4, 2)) * [lw, lh]
    moved -= moved.min(0)
    ow, oh = int(np.ceil(moved[:, 0].max())) + 1, int(np.ceil(moved[:, 1].max())) + 1
    if ow >= width or oh >= height:
        return None
    matrix = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    warped = cv2.warpPerspective(rgb, matrix, (ow, oh))
    weight = cv2.warpPerspective(alpha, matrix, (ow, oh))[..., None]
    x0, y0 = int(rng.integers(0, width - ow)), int(rng.integers(0, height - oh))
    region = canvas[y0 : y0 + oh, x0 : x0 + ow]
    region[:] = region * (1 - weight) + np.clip(warped * rng.uniform(0.6, 1.1), 0, 255) * weight
    ys, xs = np.nonzero(weight[..., 0] > 0.3)
    if len(xs) == 0:
        return None
    return (
        (x0 + int(xs.min())) / width,
        (y0 + int(ys.min())) / height,
        (x0 + int(xs.max()) + 1) / width,
        (y0 + int(ys.max()) + 1) / height,
    )


# -- training ---------------------------------------------------------------------------------


def boxed_samples(samples: Sequence[Sample], *, mirror: bool = True) -> list[BoxedPhoto]:
    """Decode annotated samples into ``(photo, boxes)`` pairs (and their mirror images).

    Samples without boxes are left out; photos that cannot be decoded are skipped with a
    warning (counted in the log).
    """
    out: list[BoxedPhoto] = []
    skipped = 0
    for sample in samples:
        if not sample.boxes:
            continue
        try:
            photo = load_image(sample.path)
        except ImageDecodeError as exc:
            skipped += 1
            logger.warning("box training photo skipped: %s", exc)
            continue
        height, width = photo.shape[:2]
        boxes = [(b.x1 / width, b.y1 / height, b.x2 / width, b.y2 / height) for b in sample.boxes]
        out.append((photo, boxes))
        if mirror:
            flipped = np.ascontiguousarray(photo[:, ::-1])
            out.append((flipped, [(1 - x2, y1, 1 - x1, y2) for x1, y1, x2, y2 in boxes]))
    if skipped:
        logger.warning("%d box training photo(s) could not be decoded and were skipped", skipped)
    return out


def box_targets(
    boxes: Sequence[NormBox], grid: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets of one photo on an ``(h, w)`` grid (see the module docstring).

    Returns:
        ``(score (h, w), ltrb (4, h, w), positive (h, w) bool)``; ``ltrb`` in photo sides.

    Example:
        >>> score, ltrb, positive = box_targets([(0.25, 0.25, 0.75, 0.75)], (4, 4))
        >>> positive.astype(int).tolist()
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    gh, gw = grid
    cy, cx = np.meshgrid((np.arange(gh) + 0.5) / gh, (np.arange(gw) + 0.5) / gw, indexing="ij")
    score = np.zeros((gh, gw), np.float32)
    ltrb = np.zeros((4, gh, gw), np.float32)
    area = np.full((gh, gw), np.inf)
    for x1, y1, x2, y2 in boxes:
        sides = np.stack([cx - x1, cy - y1, x2 - cx, y2 - cy])
        inside = sides.min(0) > 0
        if not inside.any():
            inside = np.zeros((gh, gw), bool)
            inside[min(gh - 1, int((y1 + y2) / 2 * gh)), min(gw - 1, int((x1 + x2) / 2 * gw))] = (
                True
            )
        size = (x2 - x1) * (y2 - y1)
        take = inside & (size < area)
        area[take] = size
        pos = np.clip(sides, 1e-3, None)
        centred = np.sqrt(
            np.minimum(pos[0], pos[2]) / np.maximum(pos[0], pos[2])
            * np.minimum(pos[1], pos[3]) / np.maximum(pos[1], pos[3])
        )  # fmt: skip
        score[take] = np.maximum(centred[take], 0.2)
        ltrb[:, take] = sides[:, take]
    return score, ltrb, np.isfinite(area)


def trunk_features(
    clf: LogoClassifier,
    photos: Sequence[np.ndarray],
    *,
    batch_size: int = 16,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The model's ``features_s16`` and ``features_s32`` outputs for ``photos`` (float16)."""
    from tqdm.auto import tqdm

    from logobrand.models.box_head import BOX_HEAD_INPUTS

    names = [o.name for o in clf.session.get_outputs()]
    if not all(name in names for name in BOX_HEAD_INPUTS):
        raise InvalidArgumentError(
            f"the model in {clf.directory} has no {list(BOX_HEAD_INPUTS)} outputs (it has "
            f"{names}); re-export it with this version (`logobrand export`, or save_model_dir "
            "in Python) to train a box head"
        )
    input_name = clf.session.get_inputs()[0].name
    fine, coarse = [], []
    bar = tqdm(total=len(photos), desc="trunk features", unit="photo", disable=not progress)
    for start in range(0, len(photos), batch_size):
        chunk = photos[start : start + batch_size]
        x = np.stack([preprocess(p, clf.config.preprocessing) for p in chunk])
        a, b = clf.session.run(list(BOX_HEAD_INPUTS), {input_name: x})
        fine.append(np.asarray(a, np.float16))
        coarse.append(np.asarray(b, np.float16))
        bar.update(len(chunk))
    bar.close()
    return np.concatenate(fine), np.concatenate(coarse)


def _giou_loss(torch: Any, pred: Any, true: Any) -> Any:
    ix = (torch.minimum(pred[:, 2], true[:, 2]) - torch.maximum(pred[:, 0], true[:, 0])).clamp(
        min=0
    )
    iy = (torch.minimum(pred[:, 3], true[:, 3]) - torch.maximum(pred[:, 1], true[:, 1])).clamp(
        min=0
    )
    inter = ix * iy
    union = (
        (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
        + (true[:, 2] - true[:, 0]) * (true[:, 3] - true[:, 1])
        - inter
    )
    hull = (torch.maximum(pred[:, 2], true[:, 2]) - torch.minimum(pred[:, 0], true[:, 0])) * (
        torch.maximum(pred[:, 3], true[:, 3]) - torch.minimum(pred[:, 1], true[:, 1])
    )
    return (1 - inter / union + (hull - union) / hull).mean()


def train_box_head(
    clf: LogoClassifier,
    photos: Sequence[BoxedPhoto],
    *,
    epochs: int = 12,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    width: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> Any:
    """Train a :class:`~logobrand.models.box_head.BoxHead` on the model's frozen trunk.

    Args:
        clf: A classifier whose ONNX model has ``features_s16`` / ``features_s32`` outputs.
        photos: ``(photo, boxes)`` pairs: :func:`boxed_samples` of annotated photos plus
            :func:`compose_box_photos`. Photos without boxes teach the head where no logo is.
        epochs: Passes over ``photos``.
        batch_size: Photos per step.
        learning_rate: Peak AdamW learning rate (one-cycle schedule).
        width: Channels inside the head (default
            :data:`~logobrand.models.box_head.DEFAULT_WIDTH`).
        seed: Seed of the initialisation and the batch order.
        progress: Show progress bars.

    Returns:
        The trained head (a ``torch.nn.Module``, in eval mode).

    Raises:
        InvalidArgumentError: No photo, or the model lacks the feature outputs.
        MissingExtraError: torch (the ``train`` extra) is not installed.
    """
    try:
        import torch
    except ImportError as exc:
        raise missing_extra("torch", "train") from exc
    from tqdm.auto import tqdm

    from logobrand.models.box_head import DEFAULT_WIDTH, BoxHead

    if not photos or epochs < 1 or batch_size < 1:
        raise InvalidArgumentError(
            f"train_box_head needs photos, epochs >= 1 and batch_size >= 1; got "
            f"{len(photos)} photo(s), epochs={epochs}, batch_size={batch_size}"
        )
    fine, coarse = trunk_features(clf, [p for p, _ in photos], progress=progress)
    grid = (int(fine.shape[2]), int(fine.shape[3]))
    targets = [box_targets(boxes, grid) for _, boxes in photos]
    score_t = torch.from_numpy(np.stack([t[0] for t in targets]))
    ltrb_t = torch.from_numpy(np.stack([t[1] for t in targets]))
    positive_t = torch.from_numpy(np.stack([t[2] for t in targets]))
    gy, gx = np.meshgrid(
        (np.arange(grid[0]) + 0.5) / grid[0], (np.arange(grid[1]) + 0.5) / grid[1], indexing="ij"
    )
    cy, cx = torch.from_numpy(gy.astype(np.float32)), torch.from_numpy(gx.astype(np.float32))

    def corners(ltrb: Any) -> Any:
        return torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], 1)

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    head = BoxHead(fine.shape[1], coarse.shape[1], width or DEFAULT_WIDTH)
    optimizer = torch.optim.AdamW(head.parameters(), learning_rate, weight_decay=1e-4)
    steps_per_epoch = (len(photos) + batch_size - 1) // batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, learning_rate, total_steps=epochs * steps_per_epoch
    )
    head.train()
    for epoch in range(epochs):
        order = torch.randperm(len(photos), generator=generator)
        total = 0.0
        bar = tqdm(total=len(photos), desc=f"box head {epoch + 1}/{epochs}", disable=not progress)
        for start in range(0, len(photos), batch_size):
            idx = order[start : start + batch_size]
            rows = idx.numpy()
            logits, ltrb = head(
                torch.from_numpy(fine[rows]).float(), torch.from_numpy(coarse[rows]).float()
            )
            logits = logits[:, 0]
            target, positive = score_t[idx], positive_t[idx]
            bce = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, target, reduction="none"
            )
            weight = (torch.sigmoid(logits) - target).abs().detach() ** 2
            loss = (bce * weight).sum() / positive.sum().clamp(min=1)
            if positive.any():
                pred = corners(ltrb).permute(0, 2, 3, 1)[positive]
                true = corners(ltrb_t[idx]).permute(0, 2, 3, 1)[positive]
                loss = loss + 2.0 * _giou_loss(torch, pred, true)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
            bar.update(len(idx))
        bar.close()
        logger.info("box head epoch %d/%d: loss %.4f", epoch + 1, epochs, total / len(photos))
    return head.eval()


def save_box_head(
    clf: LogoClassifier,
    head: Any,
    directory: str | os.PathLike[str],
    *,
    summary: dict[str, Any] | None = None,
) -> Path:
    """Write a copy of ``clf``'s model directory with ``head`` exported to ``box_head.onnx``.

    The copy is atomic (like ``save_pretrained``); ``config.json`` gets ``files["box_head"]``
    and ``training["box_head"]`` (``summary``, e.g. what the head was trained on).

    A few-shot gallery is carried over. If it compares box crops, its references were cut out
    with the previous head's boxes while photos will be cut with the new head's: a warning
    says so (re-add the brands' images to the copy to match them with the new head).

    Returns:
        The directory path.

    Raises:
        InvalidArgumentError: The model lacks the feature outputs the head reads.
        MissingExtraError: torch is not installed.
    """
    import torch

    from logobrand.models.box_head import BOX_HEAD_INPUTS, BOX_HEAD_OUTPUTS, ExportedBoxHead

    size = clf.config.preprocessing.input_size
    fine, coarse = trunk_features(clf, [np.zeros((size, size, 3), np.uint8)])  # example inputs
    module = ExportedBoxHead(head).eval()

    def export(path: Path) -> None:
        with torch.no_grad(), quiet_torch_export():
            torch.onnx.export(
                module,
                (torch.from_numpy(fine).float(), torch.from_numpy(coarse).float()),
                str(path),
                input_names=list(BOX_HEAD_INPUTS),
                output_names=list(BOX_HEAD_OUTPUTS),
                dynamic_axes={n: {0: "batch"} for n in (*BOX_HEAD_INPUTS, *BOX_HEAD_OUTPUTS)},
                opset_version=17,
                dynamo=False,
            )

    config = dataclasses.replace(
        clf.config, training={**clf.config.training, "box_head": dict(summary or {})}
    )
    gallery = clf.gallery
    if gallery is not None and len(gallery) > 0 and gallery.kind == BOX_CROPS:
        logger.warning(
            "the few-shot gallery of %s (%d brand(s)) is copied to %s, but its references were "
            "cropped with the previous box head; re-add the brands' images there (logobrand "
            "brands add NAME IMAGES --model %s --replace) to match them with the new head",
            clf.directory,
            len(gallery),
            directory,
            directory,
        )
    source = clf.directory
    model_files: dict[str, str] = cast(Any, clf)._model_files()

    def write(tmp: Path) -> None:
        copy_model_files(source, tmp, list(model_files.values()))
        export(tmp / BOX_HEAD_FILE)

    files = {**model_files, BOX_HEAD_KEY: BOX_HEAD_FILE}

    written: Path = cast(Any, clf)._write_copy(directory, config, files, write)
    return written


__all__ = [
    "BoxedPhoto",
    "box_targets",
    "boxed_samples",
    "compose_box_photos",
    "save_box_head",
    "train_box_head",
    "trunk_features",
]
