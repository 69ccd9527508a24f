"""The default model's training recipe: cached frozen trunk, trained upper blocks, calibration.

Full fine-tuning of a CNN does not fit a 30-minute budget on two CPU cores, and a frozen
linear probe is far too weak. The recipe spends the budget where it pays:

1. **Cache the frozen lower trunk once.** The stem and the first ``frozen_blocks`` blocks of
   EfficientNet-Lite0 (ImageNet weights) run once per training photo and augmented view, on
   ONNX Runtime (about three times faster than eager PyTorch here). Their output (112 channels
   at 1/16 resolution) is kept in memory as float16.
2. **Train the upper blocks, the head convolution and a spatial classifier** on the cached
   maps, in PyTorch, with AdamW, a one-cycle learning rate, label smoothing and balanced class
   weights (negatives are scarce). The classifier scores every cell of the last feature map and
   pools them with a soft maximum, so a small logo can decide.
3. **Hard negatives.** Half of the augmented views of no-logo photos get generic words drawn
   on them, so that "there is text" is not mistaken for "there is a logo".
4. **Same geometry for every photo.** Every photo is squashed to a square before anything else:
   Logos-32plus was published squashed to 224x224, and a model must not learn the aspect ratio.
5. **Calibrate on validation data only**: a temperature that minimises the validation
   negative log-likelihood, then the lowest "no logo" threshold that reaches the target logo
   precision (0.98 by default). Both go into ``config.json``.

The result is a model directory that :class:`logobrand.LogoClassifier` loads with the core
install (ONNX Runtime only).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from tqdm.auto import tqdm

from logobrand import metrics
from logobrand.data import NO_LOGO, FileDataset, Sample
from logobrand.errors import DatasetLayoutError, InvalidArgumentError, LogoBrandError
from logobrand.images import load_image
from logobrand.inference.calibrate import calibrate_logits
from logobrand.inference.config import ModelConfig
from logobrand.inference.export import quiet_torch_export, save_model_dir
from logobrand.inference.onnx import create_session
from logobrand.models import Preprocessing, create_model, get_model_spec
from logobrand.models.efficientnet_lite0 import EfficientNetLite0
from logobrand.transforms import preprocess

logger = logging.getLogger(__name__)

_NEGATIVE_WORDS = tuple(
    [
        "SALE",
        "OPEN",
        "CAFE",
        "HOTEL",
        "PARKING",
        "EXIT",
        "STREET",
        "24H",
        "PIZZA",
        "BAR",
        "NEWS",
        "CITY",
        "CLUB",
        "MARKET",
        "BANK",
        "TAXI",
        "STOP",
        "LOVE",
        "HAPPY",
        "FREE",
        "MENU",
        "SHOP",
        "BOOKS",
        "ART",
        "2024",
        "No.7",
        "Lorem",
        "ipsum",
        "Welcome",
        "Station",
        "Park",
    ]
)


@dataclass(frozen=True)
class RecipeConfig:
    """Hyper-parameters of the default recipe (every field is stored in ``config.json``).

    Attributes:
        architecture: A registry name whose model has ``features(x, upto)`` and
            ``features_from(x, start)`` (``efficientnet_lite0``).
        input_size: Side of the network input (a multiple of 32). Larger inputs give small
            logos more feature-map cells: 320 beat 224 by about 3 points on validation.
        canonical_size: Every photo is squashed to this size first (see
            :class:`~logobrand.models.Preprocessing`); ``None`` skips the stage.
        frozen_blocks: How many trunk blocks stay frozen and are cached (of 16).
        views: Augmented views cached per training photo (view 0 is the plain photo).
        epochs: Passes over the cached training views.
        batch_size: Mini-batch size.
        lr: Peak learning rate of the one-cycle schedule (AdamW).
        weight_decay: AdamW weight decay.
        label_smoothing: Cross-entropy label smoothing.
        target_precision: Logo precision the "no logo" threshold must reach on validation.
        text_negatives: Draw generic words on half of the no-logo views (hard negatives).
        seed: Seed of every random choice.
    """

    architecture: str = "efficientnet_lite0"
    input_size: int = 320
    canonical_size: int | None = 224
    frozen_blocks: int = 11
    views: int = 4
    epochs: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    target_precision: float = 0.98
    text_negatives: bool = True
    seed: int = 0


@dataclass
class RecipeResult:
    """What :func:`train_default_model` produced.

    Attributes:
        directory: The saved model directory.
        history: One dict per epoch (loss, train/val accuracy, seconds).
        temperature: The fitted softmax temperature.
        threshold: The "no logo" threshold chosen on validation data.
        threshold_reached: Whether the target precision was reached on validation data.
        seconds: Wall-clock time of the whole recipe, feature caching included.
    """

    directory: Path
    history: list[dict[str, float]] = field(default_factory=list)
    temperature: float = 1.0
    threshold: float = 0.5
    threshold_reached: bool = False
    seconds: float = 0.0


def _squash(image: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    height, width = image.shape[:2]
    shrink = height >= size and width >= size
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (size, size), interpolation=interpolation), np.uint8)


def _draw_words(image: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.uint8]:
    out = np.ascontiguousarray(image)
    height, width = out.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        word = _NEGATIVE_WORDS[int(rng.integers(len(_NEGATIVE_WORDS)))]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        origin = (int(rng.integers(0, max(1, width - 40))), int(rng.integers(20, max(21, height))))
        font = int(rng.integers(0, 8))
        scale = float(rng.uniform(0.5, 1.6))
        cv2.putText(out, word, origin, font, scale, colour, int(rng.integers(1, 4)), cv2.LINE_AA)
    return out


def augmented_view(
    image: NDArray[np.uint8],
    size: int,
    view: int,
    rng: np.random.Generator,
    *,
    negative: bool,
    text_negatives: bool = True,
) -> NDArray[np.uint8]:
    """Return view ``view`` of a photo, squashed to ``size`` x ``size`` (uint8 HWC).

    ``size`` is the canonical size; :func:`logobrand.transforms.preprocess` takes it from there.

    View 0 is the plain squashed photo. Other views take a random crop (45-100 % of the area,
    aspect 3:4 to 4:3) with brightness and contrast jitter; for no-logo photos, odd views also
    get generic words drawn on them when ``text_negatives`` is set.
    """
    square = _squash(image, size)
    if view == 0:
        return square
    area = rng.uniform(0.45, 1.0)
    ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    crop_w = min(size, round(size * math.sqrt(area * ratio)))
    crop_h = min(size, round(size * math.sqrt(area / ratio)))
    x0 = int(rng.integers(0, size - crop_w + 1))
    y0 = int(rng.integers(0, size - crop_h + 1))
    crop = square[y0 : y0 + crop_h, x0 : x0 + crop_w].astype(np.float32)
    crop = crop * rng.uniform(0.75, 1.25) + rng.uniform(-20, 20)
    out = np.clip(crop, 0, 255).astype(np.uint8)
    if negative and text_negatives and view % 2 == 1:
        out = _draw_words(out, rng)
    return _squash(out, size)


class _Trunk(nn.Module):
    def __init__(self, model: EfficientNetLite0, upto: int) -> None:
        super().__init__()
        self.model = model
        self.upto = upto

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features(images, upto=self.upto)


def cache_trunk_features(
    model: EfficientNetLite0,
    samples: Sequence[Sample],
    *,
    frozen_blocks: int,
    views: int,
    pre: Preprocessing,
    seed: int,
    text_negatives: bool = True,
    batch_size: int = 32,
    progress: bool = True,
    description: str = "caching features",
) -> tuple[NDArray[np.float16], list[tuple[Path, str]]]:
    """Run the frozen lower trunk once per photo and view on ONNX Runtime.

    View 0 is exactly :func:`logobrand.transforms.preprocess` of the photo (what inference
    sees); the other views are :func:`augmented_view` crops, preprocessed the same way.

    Returns:
        ``(features, failures)``: features of shape ``(N, views, C, H, W)`` in float16 (rows of
        photos that failed to decode stay zero and are listed in ``failures`` with the reason).
    """
    size = pre.input_size
    canonical = pre.canonical_size or size
    failures: list[tuple[Path, str]] = []

    def prepare(index: int) -> NDArray[np.float32] | None:
        sample = samples[index]
        try:
            image = load_image(sample.path)
        except LogoBrandError as exc:
            failures.append((sample.path, f"{type(exc).__name__}: {exc}"))
            return None
        rng = np.random.default_rng([seed, index])
        negative = sample.label == NO_LOGO
        out = np.empty((views, 3, size, size), np.float32)
        out[0] = preprocess(image, pre)
        for view in range(1, views):
            pixels = augmented_view(
                image, canonical, view, rng, negative=negative, text_negatives=text_negatives
            )
            out[view] = preprocess(pixels, pre)
        return out

    with tempfile.TemporaryDirectory(prefix="logobrand-trunk-") as tmp:
        onnx_path = Path(tmp) / "trunk.onnx"
        trunk = _Trunk(model, frozen_blocks).eval()
        with torch.no_grad(), quiet_torch_export():
            torch.onnx.export(
                trunk,
                (torch.zeros(1, 3, size, size),),
                str(onnx_path),
                input_names=["images"],
                output_names=["features"],
                dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
                opset_version=17,
                dynamo=False,
            )
        session = create_session(onnx_path)
        features: NDArray[np.float16] | None = None
        bar = tqdm(total=len(samples), desc=description, disable=not progress, unit="photo")
        with ThreadPoolExecutor(max_workers=2) as pool:
            for start in range(0, len(samples), batch_size):
                indices = list(range(start, min(len(samples), start + batch_size)))
                prepared = list(pool.map(prepare, indices))
                good = [i for i, item in zip(indices, prepared, strict=True) if item is not None]
                if good:
                    batch = np.concatenate([p for p in prepared if p is not None])
                    out = session.run(None, {"images": batch})[0].astype(np.float16)
                    out = out.reshape(len(good), views, *out.shape[1:])
                    if features is None:
                        features = np.zeros((len(samples), views, *out.shape[2:]), np.float16)
                    features[good] = out
                bar.update(len(indices))
        bar.close()
    if features is None:
        raise InvalidArgumentError("no photo could be decoded; nothing to train on")
    for path, reason in failures:
        logger.warning("skipped unreadable photo %s (%s)", path, reason)
    return features, failures


def _upper_parameters(model: EfficientNetLite0, frozen_blocks: int) -> list[nn.Parameter]:
    params: list[nn.Parameter] = []
    for block in list(model.blocks)[frozen_blocks:]:
        params.extend(block.parameters())
    params.extend(model.top.parameters())
    params.extend(model.head.parameters())
    return params


def _logits(
    model: EfficientNetLite0, features: NDArray[np.float16], frozen_blocks: int, batch: int = 256
) -> torch.Tensor:
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(features), batch):
            x = torch.from_numpy(features[start : start + batch].astype(np.float32))
            out.append(model.head(model.features_from(x, frozen_blocks)))
    return torch.cat(out) if out else torch.zeros(0, 0)


def fit_temperature(logits: Any, targets: Any) -> float:
    """Deprecated alias of :func:`logobrand.metrics.fit_temperature` (numpy inputs)."""
    warnings.warn(
        "logobrand.training.recipe.fit_temperature is deprecated; use "
        "logobrand.metrics.fit_temperature",
        DeprecationWarning,
        stacklevel=2,
    )
    return metrics.fit_temperature(np.asarray(logits), np.asarray(targets))


def choose_threshold(
    probs: NDArray[np.float32], targets: Sequence[int], labels: Sequence[str], target: float
) -> tuple[float, bool, float, float]:
    """Deprecated: :func:`logobrand.inference.calibrate.calibrate_logits` fits the temperature
    and chooses the threshold in one step."""
    warnings.warn(
        "logobrand.training.recipe.choose_threshold is deprecated; use "
        "logobrand.inference.calibrate.calibrate_logits",
        DeprecationWarning,
        stacklevel=2,
    )
    brands = [i for i, label in enumerate(labels) if label != NO_LOGO]
    best = np.asarray(brands)[np.asarray(probs)[:, brands].argmax(1)]
    scores = np.asarray(probs)[np.arange(len(best)), best]
    truth = [labels[t] for t in targets]
    choice = metrics.threshold_for_precision(truth, [labels[b] for b in best], scores, target)
    return choice.threshold, choice.reached, choice.precision, choice.recall


def train_default_model(
    train: FileDataset,
    val: FileDataset,
    directory: str | Path,
    config: RecipeConfig | None = None,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> RecipeResult:
    """Train, calibrate and save the default model (see the module docstring).

    Args:
        train: Training photos; must contain the ``"no-logo"`` class.
        val: Validation photos, used for model selection and calibration only.
        directory: Where the model directory is written (atomically).
        config: Hyper-parameters; :class:`RecipeConfig` defaults when ``None``.
        progress: Show progress bars.
        log: Where the per-epoch log lines go.

    Returns:
        A :class:`RecipeResult`.
    """
    cfg = config or RecipeConfig()
    started = time.perf_counter()
    labels = list(train.classes)
    if NO_LOGO not in labels:
        raise InvalidArgumentError(f"the training set has no {NO_LOGO!r} class; add negatives")
    if list(val.classes) != labels:
        raise InvalidArgumentError("train and val must have the same classes in the same order")
    torch.manual_seed(cfg.seed)
    spec = get_model_spec(cfg.architecture)
    pre = replace(spec.preprocessing, input_size=cfg.input_size, canonical_size=cfg.canonical_size)
    model = create_model(cfg.architecture, len(labels), pretrained=True)
    if not isinstance(model, EfficientNetLite0):
        raise InvalidArgumentError(
            f"the recipe needs an EfficientNet-Lite trunk, not {cfg.architecture}"
        )
    common: dict[str, Any] = {
        "frozen_blocks": cfg.frozen_blocks,
        "pre": pre,
        "seed": cfg.seed,
        "text_negatives": cfg.text_negatives,
        "progress": progress,
    }
    t0 = time.perf_counter()
    train_x, train_failed = cache_trunk_features(
        model, train.samples, views=cfg.views, description="caching train", **common
    )
    val_x, val_failed = cache_trunk_features(
        model, val.samples, views=1, description="caching val", **common
    )
    cache_seconds = time.perf_counter() - t0
    log(
        f"cached {len(train)} train x {cfg.views} views and {len(val)} val photos "
        f"in {cache_seconds:.0f}s ({len(train_failed) + len(val_failed)} unreadable, skipped)"
    )
    failed = {str(p) for p, _ in train_failed + val_failed}
    train_keep = np.asarray([i for i, s in enumerate(train.samples) if str(s.path) not in failed])
    val_keep = np.asarray([i for i, s in enumerate(val.samples) if str(s.path) not in failed])
    train_y = np.asarray(train.targets, np.int64)
    val_y = torch.from_numpy(np.asarray(val.targets, np.int64)[val_keep])
    val_x = val_x[val_keep, 0]

    counts = np.bincount(train_y[train_keep], minlength=len(labels)).astype(np.float64)
    weights = torch.tensor(
        len(train_keep) / (len(labels) * np.maximum(counts, 1)), dtype=torch.float32
    )
    params = _upper_parameters(model, cfg.frozen_blocks)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_keep) / cfg.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, cfg.lr, total_steps=cfg.epochs * steps_per_epoch, pct_start=0.15
    )
    history: list[dict[str, float]] = []
    best_loss, best_state = math.inf, None
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        order = rng.permutation(train_keep)
        total_loss, correct = 0.0, 0
        bar = tqdm(total=len(order), desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress)
        for start in range(0, len(order), cfg.batch_size):
            rows = np.sort(order[start : start + cfg.batch_size])
            views = rng.integers(0, cfg.views, len(rows))
            x = torch.from_numpy(train_x[rows, views].astype(np.float32))
            y = torch.from_numpy(train_y[rows])
            logits = model.head(model.features_from(x, cfg.frozen_blocks))
            loss = nn.functional.cross_entropy(
                logits, y, weight=weights, label_smoothing=cfg.label_smoothing
            )
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(rows)
            correct += int((logits.argmax(1) == y).sum())
            bar.update(len(rows))
        bar.close()
        val_logits = _logits(model, val_x, cfg.frozen_blocks)
        val_loss = float(nn.functional.cross_entropy(val_logits, val_y))
        row = {
            "epoch": float(epoch),
            "loss": total_loss / len(order),
            "train_accuracy": correct / len(order),
            "val_loss": val_loss,
            "val_accuracy": float((val_logits.argmax(1) == val_y).float().mean()),
            "seconds": time.perf_counter() - epoch_start,
        }
        history.append(row)
        log(
            f"[Epoch {epoch}] Train-acc: {row['train_accuracy']:.3f}, loss: {row['loss']:.3f} | "
            f"Val-acc: {row['val_accuracy']:.3f}, val-loss: {val_loss:.3f} | "
            f"Time: {row['seconds']:.1f}"
        )
        if val_loss < best_loss:
            best_loss = val_loss
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)

    val_logits = _logits(model, val_x, cfg.frozen_blocks)
    calibration = calibrate_logits(
        val_logits.numpy(), val_y.tolist(), labels, target_precision=cfg.target_precision
    )
    temperature, threshold = calibration.temperature, calibration.threshold
    reached, precision, recall = calibration.reached, calibration.precision, calibration.recall
    log(
        f"calibration: temperature {temperature:.3f}, threshold {threshold:.4f} "
        f"(val logo precision {precision:.3f}, recall {recall:.3f}, target reached: {reached})"
    )
    seconds = time.perf_counter() - started
    model_config = ModelConfig(
        architecture=cfg.architecture,
        labels=tuple(labels),
        preprocessing=pre,
        temperature=temperature,
        threshold=threshold,
        target_precision=cfg.target_precision,
        training={
            "recipe": asdict(cfg),
            "train_photos": len(train_keep),
            "val_photos": len(val_keep),
            "unreadable_photos": sorted(failed),
            "history": history,
            "cache_seconds": round(cache_seconds, 1),
            "train_seconds": round(seconds, 1),
            "val_logo_precision": precision,
            "val_logo_recall": recall,
            "validation_curve": calibration.curve,
        },
    )
    model.eval()
    out = save_model_dir(model, directory, model_config)
    return RecipeResult(
        out, history, temperature, threshold, reached, time.perf_counter() - started
    )


@dataclass
class SharedDataSplits:
    """The recipe's data: in-domain train/val/test parts and a cross-dataset test set.

    Attributes:
        train: Logos-32plus brands plus ImageNet-sample no-logo photos (training part).
        val: Validation part of the same sources (model selection and calibration only).
        test: Held-out part of the same sources (the in-domain benchmark).
        cross: Photos from collections never used for training: the 14 FlickrLogos-27 brands
            shared with FlickrLogos-32, its no-logo photos, and the BSDS500 no-logo photos.
        problems: What was skipped while reading the sources (files that are not images,
            broken links, misplaced photos, empty class folders, missing annotated photos,
            photos dropped as duplicates of training photos), one message each.
    """

    train: FileDataset
    val: FileDataset
    test: FileDataset
    cross: FileDataset
    problems: tuple[str, ...] = ()


def shared_data_splits(
    data_root: str | Path,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
    train_on_all_sources: bool = False,
) -> SharedDataSplits:
    """Build the recipe's splits from a ``shared/data`` folder (see its README).

    The in-domain parts are a seeded, stratified split that keeps near-duplicate photos on one
    side. By default FlickrLogos-27 and BSDS500 are kept out of training entirely, so that the
    cross-dataset figure measures photos of other collections.

    Args:
        data_root: The ``shared/data`` folder.
        seed: Seed of the split.
        fractions: Train, validation and test shares of the in-domain sources.
        train_on_all_sources: Also split the cross-dataset photos (FlickrLogos-27's shared
            brands and no-logo photos, BSDS500) into train/val/test, for a final model that has
            seen real photo geometry of every source. ``cross`` is then empty: measure the
            cross-dataset figure with a model trained without them.

    Raises:
        DatasetLayoutError: ``logos32plus/``, ``nologo/`` or ``flickrlogos27/`` is missing.
    """
    from logobrand.data import (
        FlickrLogos27Dataset,
        ImageFolderDataset,
        find_leaks,
        stratified_split,
    )
    from logobrand.data.base import canonical_class_name

    root = Path(data_root)
    absent = [
        name for name in ("logos32plus", "nologo", "flickrlogos27") if not (root / name).is_dir()
    ]
    if absent:
        raise DatasetLayoutError(
            f"{root} has no {', '.join(absent)} folder: the recipe needs logos32plus/, nologo/ "
            "and flickrlogos27/ side by side (the layout of ../shared/data; see its README)"
        )
    logos = ImageFolderDataset(root / "logos32plus")
    nologo = ImageFolderDataset.from_folders({NO_LOGO: root / "nologo"})
    imagenet = [s for s in nologo.samples if s.path.name.startswith("imagenet_")]
    bsds = [s for s in nologo.samples if s.path.name.startswith("bsds500_")]
    fl27 = FlickrLogos27Dataset(root / "flickrlogos27", name_map=canonical_class_name)
    problems = [*logos.problems, *nologo.problems, *fl27.problems]
    unknown = len(nologo) - len(imagenet) - len(bsds)
    if unknown:
        problems.append(
            f"{unknown} photo(s) in {root / 'nologo'} are not used: the recipe takes only "
            "imagenet_* (training sources) and bsds500_* (cross-dataset) photos there"
        )
        logger.warning(problems[-1])
    brands = set(logos.classes)
    shared = [s for s in fl27.samples if s.label in brands or s.label == NO_LOGO]
    classes = [*logos.classes, NO_LOGO]
    in_domain = logos.samples + imagenet
    cross_samples = shared + bsds
    leaked = {b for _, b in find_leaks(in_domain, cross_samples, near_duplicates=True)}
    if leaked:
        problems.append(
            f"dropped {len(leaked)} cross-dataset photo(s) that are near-duplicates of photos "
            "of the training sources"
        )
        logger.warning(problems[-1])
        cross_samples = [s for s in cross_samples if s.path not in leaked]
    if train_on_all_sources:
        in_domain, cross_samples = in_domain + cross_samples, []
    train, val, test = stratified_split(FileDataset(in_domain, classes), fractions, seed=seed)
    return SharedDataSplits(
        train, val, test, FileDataset(cross_samples, classes), problems=tuple(problems)
    )
