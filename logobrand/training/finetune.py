"""The long recipe: fine-tune the whole network against other brands, then calibrate.

The quick recipe (:mod:`logobrand.training.recipe`) trains the upper blocks on cached features
to fit 30 CPU minutes. This one spends hours on the two cores for the bundled model:

1. **Every block trains**, end to end, with AdamW, a warm-up and a cosine decay
   (:class:`~logobrand.training.callbacks.CosineSchedule`), label smoothing, in
   :class:`~logobrand.training.Trainer` (so it checkpoints and resumes exactly).
2. **"No logo" means "none of our brands".** The negatives are the no-logo photos, the shop
   fronts and signboards of other businesses (``otherlogos/``, split here, seeded, with
   near-duplicates on one side), and composites of other brands' artwork (simple-icons, the
   32 brands and FlickrLogos-27's 13 others left out) on negative photos.
3. **Same geometry and sharpness for every photo**: each is squashed to the canonical
   224 x 224 once (kept in memory), as in the quick recipe.
4. **Strong seeded augmentation, no flips** (a mirrored word is not the logo): random crops of
   30-100 % of the area, a small turn, brightness, contrast and saturation changes, blur, JPEG
   re-encoding, and generic words drawn on a third of the negative views.
5. **Train small, look large.** Training runs at 224 pixels; the inference size is chosen on
   validation data among a few larger ones (random crops zoom in, so a larger test input
   matches the training scale), then the temperature and the "no logo" threshold for the
   target precision, on a validation part that holds hundreds of other brands' photos.

Run it with ``python -m logobrand.training.finetune --data-root ../shared/data --out DIR``;
``--resume`` continues an interrupted run from ``DIR/checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm.auto import tqdm

from logobrand.data import NO_LOGO, FileDataset, Sample
from logobrand.data.otherlogos import otherlogos_splits
from logobrand.errors import LogoBrandError
from logobrand.images import load_image
from logobrand.inference.calibrate import calibrate_logits
from logobrand.inference.config import ModelConfig, trained_on_record
from logobrand.inference.export import save_model_dir
from logobrand.models import Preprocessing, create_model, get_model_spec
from logobrand.training.callbacks import CosineSchedule, HistoryLogger, ModelCheckpoint
from logobrand.training.recipe import (
    _draw_words,
    _squash,
    shared_data_splits,
)
from logobrand.training.state import load_weights
from logobrand.training.trainer import Trainer
from logobrand.transforms import preprocess

logger = logging.getLogger(__name__)

FLICKRLOGOS27_OTHERS = (
    "Citroen",
    "Intel",
    "McDonalds",
    "Mini",
    "Nbc",
    "Nike",
    "Porsche",
    "Puma",
    "RedBull",
    "Sprite",
    "Unicef",
    "Vodafone",
    "Yahoo",
)
"""FlickrLogos-27's brands that are not ours: kept out of training (few-shot test brands)."""


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of the long recipe (every field is stored in ``config.json``).

    Attributes:
        architecture: Registry name of the trunk.
        train_size: Side of the training input.
        canonical_size: Every photo is squashed to this size first.
        input_sizes: Candidate inference sizes; the one with the lowest validation loss wins.
        epochs: Passes over the training part.
        batch_size: Images per step.
        lr: Peak learning rate (AdamW).
        warmup: Warm-up epochs.
        weight_decay: AdamW weight decay.
        label_smoothing: Cross-entropy label smoothing.
        composites: Artwork composites added to the training negatives.
        val_composites: Artwork composites added to the validation negatives.
        otherlogos_fractions: Train, validation and test shares of ``otherlogos/``.
        target_precision: Logo precision the threshold must reach on validation.
        seed: Seed of every random choice.
        init_from: A model directory whose weights start the run (a second, shorter stage
            from an earlier run's ``model/``); ``None`` starts from ImageNet weights.
        paste: Share of training views pasted, shrunk, into a negative scene (brand photos
            and negatives alike, so the pasted geometry says nothing about the label).
        paste_scale: Range of the pasted photo's side, as a share of the scene's side.
    """

    architecture: str = "efficientnet_lite0"
    train_size: int = 224
    canonical_size: int = 224
    input_sizes: tuple[int, ...] = (224, 256, 288, 320)
    epochs: int = 11
    batch_size: int = 32
    lr: float = 1e-3
    warmup: float = 0.3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    composites: int = 1200
    val_composites: int = 300
    otherlogos_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    target_precision: float = 0.98
    seed: int = 0
    init_from: str | None = None
    paste: float = 0.0
    paste_scale: tuple[float, float] = (0.25, 0.6)


class CanonicalImages:
    """Photos squashed to one canonical square, held in memory, with a per-item transform.

    ``ds[i]`` returns ``(transform(image, negative), label)``; without a transform the
    canonical ``uint8`` image itself.
    """

    def __init__(
        self,
        images: NDArray[np.uint8],
        targets: Sequence[int],
        classes: Sequence[str],
        transform: Any = None,
    ) -> None:
        self.images = images
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.transform = transform
        self._no_logo = self.classes.index(NO_LOGO)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[NDArray[Any], int]:
        label = self.targets[index]
        image = self.images[index]
        if self.transform is None:
            return image, label
        return self.transform(image, label == self._no_logo), label

    def with_transform(self, transform: Any) -> CanonicalImages:
        """Return the same images with another transform."""
        return CanonicalImages(self.images, self.targets, self.classes, transform)


def decode_canonical(
    sources: Sequence[Any], size: int, *, progress: bool = True, description: str = "decoding"
) -> tuple[NDArray[np.uint8], list[int], list[str]]:
    """Decode photos (paths or arrays) and squash each to ``size`` x ``size``.

    Returns:
        ``(images, kept, failures)``: the stacked images, the positions of the decoded ones and
        one message per photo that could not be decoded (it is left out).
    """
    out = np.zeros((len(sources), size, size, 3), np.uint8)
    kept: list[int] = []
    failures: list[str] = []
    for i, source in enumerate(tqdm(sources, desc=description, disable=not progress)):
        try:
            image = source if isinstance(source, np.ndarray) else load_image(source)
        except LogoBrandError as exc:
            failures.append(f"{source}: {exc}")
            continue
        out[len(kept)] = _squash(np.ascontiguousarray(image[..., :3]), size)
        kept.append(i)
    return out[: len(kept)], kept, failures


class StrongAugment:
    """The long recipe's training view of a canonical photo (seeded, no flips).

    Args:
        pre: Preprocessing of the training input (its ``input_size`` is the output side).
        seed: Seed; :meth:`reseed` (called by the batch loader) replaces it per batch.
        text_negatives: Share of negative views that get generic words drawn on them.
        scenes: Canonical negative photos ``(N, S, S, 3)`` to paste views into; ``None``
            pastes nothing.
        paste: Share of views pasted into a random scene.
        paste_scale: Range of the pasted view's side, as a share of the scene's side.
    """

    def __init__(
        self,
        pre: Preprocessing,
        seed: int = 0,
        text_negatives: float = 0.33,
        *,
        scenes: NDArray[np.uint8] | None = None,
        paste: float = 0.0,
        paste_scale: tuple[float, float] = (0.25, 0.6),
    ) -> None:
        self.pre = replace(pre, canonical_size=None)
        self.rng = np.random.default_rng(seed)
        self.text_negatives = text_negatives
        self.scenes = scenes
        self.paste = paste if scenes is not None and len(scenes) else 0.0
        self.paste_scale = paste_scale

    def reseed(self, seed: int) -> None:
        """Restart the random stream (the loader calls this before each batch)."""
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: NDArray[np.uint8], negative: bool = False) -> NDArray[np.float32]:
        """Return one augmented, preprocessed view ``(3, S, S)`` of ``image``."""
        rng = self.rng
        size = image.shape[0]
        area = rng.uniform(0.3, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        crop_w = min(size, round(size * math.sqrt(area * ratio)))
        crop_h = min(size, round(size * math.sqrt(area / ratio)))
        x0 = int(rng.integers(0, size - crop_w + 1))
        y0 = int(rng.integers(0, size - crop_h + 1))
        view = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
        side = self.pre.input_size
        view = np.asarray(cv2.resize(view, (side, side), interpolation=cv2.INTER_LINEAR))
        if self.paste and rng.random() < self.paste:
            view = self._paste_into_scene(view)
        if rng.random() < 0.3:
            turn = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-12, 12), 1.0)
            view = np.asarray(
                cv2.warpAffine(view, turn, (side, side), borderMode=cv2.BORDER_REFLECT_101)
            )
        pixels = view.astype(np.float32)
        grey = pixels.mean(axis=2, keepdims=True)
        pixels = grey + (pixels - grey) * rng.uniform(0.6, 1.4)  # saturation
        mean = float(pixels.mean())
        pixels = mean + (pixels - mean) * rng.uniform(0.7, 1.3)  # contrast
        pixels = pixels * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)  # brightness
        if rng.random() < 0.05:
            pixels = np.repeat(pixels.mean(axis=2, keepdims=True), 3, axis=2)
        view = np.clip(pixels, 0, 255).astype(np.uint8)
        if rng.random() < 0.15:
            view = np.asarray(cv2.GaussianBlur(view, (5, 5), rng.uniform(0.4, 1.4)))
        if negative and rng.random() < self.text_negatives:
            view = _draw_words(view, rng)
        if rng.random() < 0.25:
            quality = int(rng.integers(30, 90))
            ok, encoded = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                view = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED))
        return preprocess(view, self.pre)

    def _paste_into_scene(self, view: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Shrink ``view`` (random aspect) and paste it at a random place of a random scene."""
        assert self.scenes is not None
        rng = self.rng
        side = view.shape[0]
        scene = self.scenes[int(rng.integers(0, len(self.scenes)))]
        out = np.array(cv2.resize(scene, (side, side), interpolation=cv2.INTER_AREA))
        share = rng.uniform(*self.paste_scale)
        aspect = math.exp(rng.uniform(math.log(2 / 3), math.log(3 / 2)))
        w = max(8, min(side, round(side * share * math.sqrt(aspect))))
        h = max(8, min(side, round(side * share / math.sqrt(aspect))))
        small = np.asarray(cv2.resize(view, (w, h), interpolation=cv2.INTER_AREA))
        x0 = int(rng.integers(0, side - w + 1))
        y0 = int(rng.integers(0, side - h + 1))
        out[y0 : y0 + h, x0 : x0 + w] = small
        return out


class CanonicalEval:
    """The evaluation view: the canonical photo resized to ``pre.input_size``, preprocessed."""

    def __init__(self, pre: Preprocessing) -> None:
        self.pre = replace(pre, canonical_size=None)

    def __call__(self, image: NDArray[np.uint8], negative: bool = False) -> NDArray[np.float32]:
        """Return the preprocessed photo ``(3, S, S)``."""
        return preprocess(image, self.pre)


@dataclass
class FinetuneData:
    """The long recipe's splits, decoded to canonical squares.

    Attributes:
        train: Training images (brands, no-logo photos, other brands, composites).
        val: Validation images (same sources, model selection and calibration).
        counts: How many photos each source gave to each part.
        failures: Photos that could not be decoded (left out).
        paths: Every photo file of both parts (what the model is trained or calibrated on).
    """

    train: CanonicalImages
    val: CanonicalImages
    counts: dict[str, dict[str, int]]
    failures: list[str]
    paths: list[Path]


def build_finetune_data(
    data_root: str | Path, cfg: FinetuneConfig, *, progress: bool = True
) -> FinetuneData:
    """Build and decode the long recipe's training and validation parts from ``shared/data``.

    The brand photos and no-logo photos come from :func:`shared_data_splits` (the parts the
    accuracy benchmark uses, so its test part stays unseen); ``otherlogos/`` from
    :func:`~logobrand.data.otherlogos.otherlogos_splits`; composites from
    :func:`logobrand.training.boxes.compose_box_photos` on negative photos of the same part,
    with the 32 brands and FlickrLogos-27's 13 others left out of the artwork.
    """
    from logobrand.training.boxes import compose_box_photos

    root = Path(data_root)
    splits = shared_data_splits(root, seed=cfg.seed)
    other_train, other_val, _ = otherlogos_splits(
        root / "otherlogos", fractions=cfg.otherlogos_fractions, seed=cfg.seed
    )
    classes = list(splits.train.classes)
    no_logo = classes.index(NO_LOGO)
    exclude = [*classes, *FLICKRLOGOS27_OTHERS, "guinness", "coca", "coke"]
    exclude.remove(NO_LOGO)
    art = root / "brand-art" / "simple-icons"
    counts: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    parts: list[CanonicalImages] = []
    paths: list[Path] = []
    for part, base, others, n_comp, salt in (
        ("train", splits.train, other_train, cfg.composites, 1),
        ("val", splits.val, other_val, cfg.val_composites, 2),
    ):
        negatives = [s.path for s in base.samples if s.label == NO_LOGO] + [s.path for s in others]
        composites = compose_box_photos(
            art,
            negatives,
            n=n_comp,
            seed=cfg.seed * 1000 + salt,
            scale=(0.15, 0.8),
            exclude=exclude,
        )
        sources: list[Any] = [s.path for s in base.samples] + [s.path for s in others]
        paths += [s.path for s in base.samples] + [s.path for s in others]
        sources += [photo for photo, _ in composites]
        targets = [classes.index(s.label) for s in base.samples]
        targets += [no_logo] * (len(others) + len(composites))
        images, kept, failed = decode_canonical(
            sources, cfg.canonical_size, progress=progress, description=f"decoding {part}"
        )
        failures += failed
        counts[part] = {
            "brand photos": sum(1 for s in base.samples if s.label != NO_LOGO),
            "no-logo photos": sum(1 for s in base.samples if s.label == NO_LOGO),
            "otherlogos photos": len(others),
            "artwork composites": len(composites),
            "unreadable": len(failed),
        }
        parts.append(CanonicalImages(images, [targets[i] for i in kept], classes))
    return FinetuneData(parts[0], parts[1], counts, failures, paths)


def _logits(model: nn.Module, data: CanonicalImages, batch: int = 64) -> torch.Tensor:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch):
            x = np.stack([data[i][0] for i in range(start, min(len(data), start + batch))])
            out.append(model(torch.from_numpy(x)))
    return torch.cat(out)


def train_finetuned_model(
    data_root: str | Path,
    out: str | Path,
    cfg: FinetuneConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Any = print,
) -> Path:
    """Run the long recipe; write the calibrated model directory ``out/model``.

    Checkpoints go to ``out/checkpoints`` after every epoch (``resume=True`` continues from
    them), the history to ``out/history.csv``.

    Returns:
        The model directory.
    """
    cfg = cfg or FinetuneConfig()
    out = Path(out)
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    data = build_finetune_data(data_root, cfg, progress=progress)
    log(f"data: {json.dumps(data.counts)}")
    for failure in data.failures:
        logger.warning("skipped unreadable photo %s", failure)
    decode_seconds = time.perf_counter() - started
    spec = get_model_spec(cfg.architecture)
    train_pre = replace(spec.preprocessing, input_size=cfg.train_size, canonical_size=None)
    model = create_model(
        cfg.architecture, len(data.train.classes), pretrained=cfg.init_from is None
    )
    if cfg.init_from is not None:
        start = ModelConfig.load(cfg.init_from)
        if list(start.labels) != list(data.train.classes):
            raise LogoBrandError(
                f"{cfg.init_from} was trained for other labels ({len(start.labels)}); start "
                "from a model of the same recipe, or leave --init-from out"
            )
        if start.weights_file is None:
            raise LogoBrandError(
                f"{cfg.init_from} holds no PyTorch weights to start from (an exported copy); "
                "give the run folder's model/ directory"
            )
        load_weights(model, Path(cfg.init_from) / start.weights_file)
        log(f"weights from {cfg.init_from}")
    model = model.to(memory_format=torch.channels_last)  # about 2x faster on CPU
    no_logo = data.train.classes.index(NO_LOGO)
    scenes = data.train.images[[t == no_logo for t in data.train.targets]]
    augment = StrongAugment(
        train_pre, cfg.seed, scenes=scenes, paste=cfg.paste, paste_scale=cfg.paste_scale
    )
    trainer = Trainer(
        model,
        data.train.with_transform(augment),
        data.val.with_transform(CanonicalEval(train_pre)),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        optimizer="adamw",
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        label_smoothing=cfg.label_smoothing,
        train_backbone=True,
        seed=cfg.seed,
        num_workers=0,
        progress=progress,
        callbacks=[
            CosineSchedule(warmup=cfg.warmup),
            ModelCheckpoint(
                out / "checkpoints",
                monitor="val_loss",
                mode="min",
                save_model=False,
                labels=data.train.classes,
            ),
            HistoryLogger(out / "history.csv"),
        ],
    )
    history = trainer.fit(resume_from=out / "checkpoints" if resume else None)
    train_seconds = sum(float(row["seconds"]) for row in history)

    # Choose the inference size, then calibrate, on validation data only.
    val_y = torch.tensor(data.val.targets)
    best: tuple[float, int, torch.Tensor] | None = None
    sizes: dict[str, float] = {}
    for size in cfg.input_sizes:
        pre = replace(spec.preprocessing, input_size=size, canonical_size=None)
        logits = _logits(model, data.val.with_transform(CanonicalEval(pre)))
        loss = float(nn.functional.cross_entropy(logits, val_y))
        sizes[str(size)] = loss
        log(f"input size {size}: val loss {loss:.4f}")
        if best is None or loss < best[0]:
            best = (loss, size, logits)
    assert best is not None
    _, size, logits = best
    labels = list(data.train.classes)
    calibration = calibrate_logits(
        logits.numpy(), val_y.tolist(), labels, target_precision=cfg.target_precision
    )
    log(
        f"input size {size}; temperature {calibration.temperature:.3f}; threshold "
        f"{calibration.threshold:.4f} (val logo precision {calibration.precision:.3f}, recall "
        f"{calibration.recall:.3f}, reached: {calibration.reached})"
    )
    pre = replace(spec.preprocessing, input_size=size, canonical_size=cfg.canonical_size)
    config = ModelConfig(
        architecture=cfg.architecture,
        labels=tuple(labels),
        preprocessing=pre,
        temperature=calibration.temperature,
        threshold=calibration.threshold,
        target_precision=cfg.target_precision,
        training={
            "recipe": {"name": "finetune", **asdict(cfg)},
            "data": data.counts,
            "history": [dict(row) for row in history],
            "input_size_val_loss": sizes,
            "decode_seconds": round(decode_seconds, 1),
            "train_seconds": round(train_seconds, 1),
            "val_logo_precision": calibration.precision,
            "val_logo_recall": calibration.recall,
            "validation_curve": calibration.curve,
            "trained_on": trained_on_record(data.paths),
        },
    )
    model = model.to(memory_format=torch.contiguous_format).eval()  # the plain layout to export
    return save_model_dir(model, out / "model", config)


def validation_photos(data_root: str | Path, seed: int = 0) -> FileDataset:
    """The long recipe's validation photos with their labels (brands, no-logo photos and the
    ``otherlogos`` validation part as ``"no-logo"``; no composites): what calibrates the
    closer looks (:func:`logobrand.inference.calibrate.calibrate_views`)."""
    root = Path(data_root)
    splits = shared_data_splits(root, seed=seed)
    _, other_val, _ = otherlogos_splits(root / "otherlogos", seed=seed)
    samples = [*splits.val.samples, *(Sample(s.path, NO_LOGO) for s in other_val)]
    return FileDataset(samples, splits.val.classes)


def list_photos(data_root: str | Path, part: str, seed: int = 0) -> list[Path]:
    """Photo files of one part of the long recipe's split, for the bundling commands.

    ``part`` is ``"val"`` (brand, no-logo and ``otherlogos`` validation photos: what calibrates
    the gallery and the int8 copy) or ``"train-negatives"`` (the training part's no-logo
    photos: backgrounds for box-head composites).
    """
    root = Path(data_root)
    splits = shared_data_splits(root, seed=seed)
    _, other_val, _ = otherlogos_splits(root / "otherlogos", seed=seed)
    if part == "val":
        return [s.path for s in splits.val.samples] + [s.path for s in other_val]
    if part == "train-negatives":
        return [s.path for s in splits.train.samples if s.label == NO_LOGO]
    raise ValueError(f"unknown part {part!r}; use 'val' or 'train-negatives'")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the long recipe (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m logobrand.training.finetune")
    parser.add_argument("--data-root", required=True, help="the shared/data folder")
    parser.add_argument("--out", help="run folder (checkpoints, model/)")
    parser.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    parser.add_argument("--composites", type=int, default=FinetuneConfig.composites)
    parser.add_argument("--lr", type=float, default=FinetuneConfig.lr, help="peak learning rate")
    parser.add_argument(
        "--init-from", help="start from this model directory's weights (a second stage)"
    )
    parser.add_argument(
        "--paste",
        type=float,
        default=FinetuneConfig.paste,
        help="share of training views pasted, shrunk, into a negative scene",
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    parser.add_argument(
        "--calibrate-views",
        metavar="MODEL_DIR",
        help="choose the closer looks of this model on the validation photos, save, and exit",
    )
    parser.add_argument(
        "--calibrate-words",
        metavar="MODEL_DIR",
        help="choose the words rule of this model on the validation photos, save, and exit "
        "(the ocr extra)",
    )
    parser.add_argument(
        "--list",
        choices=["val", "train-negatives"],
        help="print the photo paths of this part, one per line, and exit",
    )
    args = parser.parse_args(argv)
    if args.list:
        for path in list_photos(args.data_root, args.list):
            print(path)
        return 0
    if args.calibrate_views:
        from logobrand.inference import LogoClassifier
        from logobrand.inference.calibrate import calibrate_views

        clf = LogoClassifier.from_pretrained(args.calibrate_views)
        found = calibrate_views(clf, validation_photos(args.data_root))
        found.config(clf.config).save(args.calibrate_views)
        print(
            f"views of {args.calibrate_views}: crop {found.settings.crop}, threshold "
            f"{found.settings.threshold:.4f} (val logo precision {found.precision:.3f}, recall "
            f"{found.recall:.3f}; {found.photos} photos; by crop {json.dumps(found.by_crop)})"
        )
        return 0
    if args.calibrate_words:
        from logobrand.inference import LogoClassifier
        from logobrand.inference.calibrate import calibrate_words

        clf = LogoClassifier.from_pretrained(args.calibrate_words, views=False, words=False)
        words = calibrate_words(clf, validation_photos(args.data_root), progress=True)
        words.config(clf.config).save(args.calibrate_words)
        print(
            f"words of {args.calibrate_words}: floor {words.settings.floor}, look "
            f"{words.settings.look} (val logo precision {words.precision:.3f}, recall "
            f"{words.recall:.3f} against {words.recall_without:.3f} without words; photos read "
            f"{words.read_share:.1%}; by floor {json.dumps(words.by_floor)})"
        )
        return 0
    if not args.out:
        parser.error("--out is required to train")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = FinetuneConfig(
        epochs=args.epochs,
        composites=args.composites,
        lr=args.lr,
        init_from=str(Path(args.init_from).resolve()) if args.init_from else None,
        paste=args.paste,
    )
    directory = train_finetuned_model(
        args.data_root, args.out, cfg, resume=args.resume, log=partial(print, flush=True)
    )
    print(f"model written to {directory}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
