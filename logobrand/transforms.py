"""Image preprocessing and training augmentations (numpy + OpenCV, no torch).

Every transform takes an ``uint8`` image in HWC layout (or a 2-D grayscale image) and returns a
new array; inputs are never modified in place. Individual transforms keep the channel count of
their input (1, 3 or 4 channels, or 2-D grayscale); the pipelines built by
:func:`train_transform` and :func:`eval_transform` start with :class:`ToRGB`, so they accept any
of those and always produce RGB.

:func:`preprocess` is *the* model-input function: evaluation datasets, the trainer and ONNX
inference all call it, so a photo is turned into a tensor the same way everywhere:

1. convert to 3-channel RGB (grayscale replicated, RGBA composited on white);
2. squash-resize to ``S`` x ``S`` ignoring the aspect ratio (``cv2.INTER_AREA`` when both sides
   shrink, ``cv2.INTER_LINEAR`` otherwise);
3. scale to ``[0, 1]``, subtract ``mean`` and divide by ``std`` per channel;
4. transpose to CHW ``float32``.

Random transforms take ``seed``: an ``int`` (reproducible), a :class:`numpy.random.Generator`
(used as is, so several transforms may share one stream) or ``None`` (fresh OS entropy), and
expose ``reseed(seed)``. A transform copied into several worker processes repeats the same
random stream in each of them; call ``reseed`` in each worker (for example with
``base_seed + 1000 * epoch + worker_id``) to decorrelate them.

Images smaller than a crop: :class:`RandomCrop` and :class:`CenterCrop` first pad the image,
centred, up to the crop size with edge reflection (``cv2.BORDER_REFLECT_101``, i.e. the
edge pixel is not repeated: ``dcb|abcd|cba``) by default, or with a constant ``fill`` value
when ``padding_mode="constant"``. :class:`RandomResizedCrop` always works, whatever the size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np

from logobrand.errors import InvalidArgumentError
from logobrand.models.registry import Preprocessing

SeedLike = int | np.random.Generator | None
"""A seed: an ``int``, a :class:`numpy.random.Generator` used as is, or ``None`` (OS entropy)."""

Transform = Callable[[np.ndarray], np.ndarray]
"""Any callable that maps an image array to an array."""

SizeLike = int | tuple[int, int]
"""A size: an ``int`` for a square, or ``(height, width)``."""

MAX_SIDE = 16384
"""The largest side a transform's ``size`` may ask for, in pixels."""

_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_PADDING_MODES = {"reflect": cv2.BORDER_REFLECT_101, "constant": cv2.BORDER_CONSTANT}


# --------------------------------------------------------------------------------------------
# helpers


def make_rng(seed: SeedLike) -> np.random.Generator:
    """Return a random generator for ``seed``.

    Args:
        seed: An ``int`` (a new reproducible generator), a :class:`numpy.random.Generator`
            (returned unchanged, so the stream is shared) or ``None`` (OS entropy).

    Raises:
        InvalidArgumentError: ``seed`` is of another type or a negative integer.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if int(seed) < 0:
            raise InvalidArgumentError(f"seed must be >= 0, got {int(seed)}")
        return np.random.default_rng(int(seed))
    raise InvalidArgumentError(
        f"seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}"
    )


def _spawn(seed: SeedLike, n: int) -> list[np.random.Generator]:
    """Derive ``n`` independent generators from one seed (deterministic for int seeds)."""
    if isinstance(seed, np.random.Generator):
        return [np.random.default_rng(int(v)) for v in seed.integers(0, 2**63 - 1, size=n)]
    if seed is not None:
        make_rng(seed)  # validates the type and sign
        seed = int(seed)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def _size_hw(size: SizeLike, what: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        h = w = int(size)
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        h, w = int(size[0]), int(size[1])
    else:
        raise InvalidArgumentError(f"{what}: size must be an int or (height, width), got {size!r}")
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise InvalidArgumentError(f"{what}: size must be from 1 to {MAX_SIDE}, got {size!r}")
    return h, w


def _check_image(image: object, where: str) -> np.ndarray:
    """Validate an image array: uint8, 2-D or HWC with 1, 3 or 4 channels, not empty."""
    if not isinstance(image, np.ndarray):
        raise InvalidArgumentError(
            f"{where}: expected a numpy uint8 image, got {type(image).__name__}; "
            "decode files, bytes or PIL images with logobrand.images.load_image first"
        )
    shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
    if not shape_ok or image.size == 0:
        raise InvalidArgumentError(
            f"{where}: expected a non-empty HxW or HxWxC image with C in 1, 3, 4, got an array "
            f"of shape {image.shape}"
        )
    if image.dtype != np.uint8:
        raise InvalidArgumentError(
            f"{where}: expected dtype uint8, got {image.dtype} (shape {image.shape}); "
            "convert with logobrand.images.load_image or np.clip(x, 0, 255).astype(np.uint8)"
        )
    return image


def _restore_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    if like.ndim == 3 and out.ndim == 2:
        return out[:, :, None]
    return out


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Convert a grayscale, 1-, 3- or 4-channel ``uint8`` image to RGB ``(H, W, 3)``.

    Grayscale is replicated to three channels; RGBA is composited on a white background
    (exactly rounded). A 3-channel image is returned unchanged (not copied).

    Args:
        image: ``uint8`` array of shape ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1, 3, 4.

    Returns:
        ``uint8`` array of shape ``(H, W, 3)``.

    Raises:
        InvalidArgumentError: ``image`` is not such an array.

    Example:
        >>> import numpy as np
        >>> to_rgb(np.zeros((2, 5), np.uint8)).shape
        (2, 5, 3)
        >>> to_rgb(np.array([[[0, 0, 0, 0]]], np.uint8)).tolist()  # transparent -> white
        [[[255, 255, 255]]]
    """
    image = _check_image(image, "to_rgb")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    channels = image.shape[2]
    if channels == 3:
        return image
    if channels == 1:
        return np.repeat(image, 3, axis=2)
    alpha = image[:, :, 3:4].astype(np.uint16)
    blended = image[:, :, :3].astype(np.uint16) * alpha + 255 * (255 - alpha)
    return ((blended + 127) // 255).astype(np.uint8)


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize to ``(height, width)``: INTER_AREA when both sides shrink, else INTER_LINEAR."""
    in_h, in_w = image.shape[:2]
    if (in_h, in_w) == (height, width):
        return image
    shrink = height <= in_h and width <= in_w
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    src = np.ascontiguousarray(image)
    out = cv2.resize(src, (width, height), interpolation=interpolation)
    return _restore_channels(out, image)


def _pad_to(image: np.ndarray, height: int, width: int, mode: int, fill: int) -> np.ndarray:
    """Pad (centred) so that the image is at least ``height`` x ``width``."""
    in_h, in_w = image.shape[:2]
    pad_h, pad_w = max(height - in_h, 0), max(width - in_w, 0)
    if pad_h == 0 and pad_w == 0:
        return image
    top, left = pad_h // 2, pad_w // 2
    out = cv2.copyMakeBorder(
        np.ascontiguousarray(image),
        top,
        pad_h - top,
        left,
        pad_w - left,
        mode,
        value=[float(fill)] * 4,
    )
    return _restore_channels(out, image)


def _padding_mode(mode: str, where: str) -> int:
    try:
        return _PADDING_MODES[mode]
    except KeyError:
        raise InvalidArgumentError(
            f"{where}: padding_mode must be 'reflect' or 'constant', got {mode!r}"
        ) from None


# --------------------------------------------------------------------------------------------
# preprocess: the single model-input function


class _Affine:
    """Per-channel ``x * scale + offset`` equal to ``(x / 255 - mean) / std``, cached."""

    __slots__ = ("offset", "scale")

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        mean_arr = np.asarray(mean, dtype=np.float64)
        std_arr = np.asarray(std, dtype=np.float64)
        self.scale = (1.0 / (255.0 * std_arr)).astype(np.float32)
        self.offset = (-mean_arr / std_arr).astype(np.float32)


_AFFINE_CACHE: dict[tuple[tuple[float, ...], tuple[float, ...]], _Affine] = {}


def _affine_for(pre: Preprocessing) -> _Affine:
    key = (tuple(pre.mean), tuple(pre.std))
    affine = _AFFINE_CACHE.get(key)
    if affine is None:
        if len(key[0]) != 3 or len(key[1]) != 3 or min(key[1]) <= 0:
            raise InvalidArgumentError(
                f"preprocessing needs 3 means and 3 positive stds, got mean={pre.mean} "
                f"std={pre.std}"
            )
        affine = _Affine(key[0], key[1])
        if len(_AFFINE_CACHE) < 64:
            _AFFINE_CACHE[key] = affine
    return affine


def _check_pre(pre: object) -> Preprocessing:
    if not isinstance(pre, Preprocessing):
        raise InvalidArgumentError(
            f"expected a logobrand.models.Preprocessing, got {type(pre).__name__}"
        )
    if pre.resize != "squash":
        raise InvalidArgumentError(f"unknown resize policy {pre.resize!r}; only 'squash' exists")
    if pre.input_size < 1:
        raise InvalidArgumentError(f"input_size must be positive, got {pre.input_size}")
    return pre


def _preprocess_into(image: np.ndarray, pre: Preprocessing, out: np.ndarray) -> None:
    """Write ``preprocess(image, pre)`` into ``out`` (float32, shape (3, S, S))."""
    size = pre.input_size
    rgb = to_rgb(_check_image(image, "preprocess"))
    if pre.canonical_size is not None:
        rgb = _resize(rgb, pre.canonical_size, pre.canonical_size)
    resized = _resize(rgb, size, size)
    affine = _affine_for(pre)
    # Splitting into planes and scaling in place is ~20x faster than broadcasting over the
    # trailing channel axis of an HWC float array.
    for channel, plane in enumerate(cv2.split(np.ascontiguousarray(resized))):
        target = out[channel]
        target[...] = plane
        target *= affine.scale[channel]
        target += affine.offset[channel]


def preprocess(image: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Turn a photo into a model input: squash to ``S`` x ``S``, normalise, CHW ``float32``.

    This is the one preprocessing function shared by evaluation, training and inference.
    When ``pre.canonical_size`` is set, the photo is squashed to that size first.

    Args:
        image: ``uint8`` image, ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1, 3, 4, any size
            (grayscale is replicated, RGBA composited on white).
        pre: The model's :class:`~logobrand.models.Preprocessing` (``input_size``, ``mean``,
            ``std``).

    Returns:
        ``float32`` array of shape ``(3, S, S)`` with ``S = pre.input_size``, equal to
        ``(resized / 255 - mean) / std`` per channel (computed as one fused multiply-add).

    Raises:
        InvalidArgumentError: ``image`` is not a non-empty ``uint8`` image, or ``pre`` is
            invalid.

    Example:
        >>> import numpy as np
        >>> from logobrand.models import Preprocessing
        >>> pre = Preprocessing(input_size=32)
        >>> x = preprocess(np.full((48, 64, 3), 255, np.uint8), pre)
        >>> x.shape, x.dtype
        ((3, 32, 32), dtype('float32'))
        >>> round(float(x[0, 0, 0]), 4)  # (1 - 0.485) / 0.229
        2.2489
    """
    pre = _check_pre(pre)
    out = np.empty((3, pre.input_size, pre.input_size), dtype=np.float32)
    _preprocess_into(image, pre, out)
    return out


def preprocess_batch(images: Sequence[np.ndarray] | np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Apply :func:`preprocess` to several images and stack the results.

    Args:
        images: A sequence of images (sizes and channel counts may differ) or a 4-D
            ``(N, H, W, C)`` ``uint8`` array. A 3-D array is refused as ambiguous: pass a
            list of 2-D images for a grayscale batch.
        pre: The model's preprocessing.

    Returns:
        ``float32`` array of shape ``(N, 3, S, S)`` (``N`` may be 0).

    Raises:
        InvalidArgumentError: An image is invalid; the message gives its index.

    Example:
        >>> import numpy as np
        >>> from logobrand.models import Preprocessing
        >>> imgs = [np.zeros((10, 20, 3), np.uint8), np.zeros((7, 7), np.uint8)]
        >>> preprocess_batch(imgs, Preprocessing(input_size=16)).shape
        (2, 3, 16, 16)
    """
    pre = _check_pre(pre)
    if isinstance(images, np.ndarray) and images.ndim != 4:
        raise InvalidArgumentError(
            f"preprocess_batch: an array batch must be (N, H, W, C), got shape {images.shape}; "
            "pass a list of images instead"
        )
    size = pre.input_size
    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    for index, image in enumerate(images):
        try:
            _preprocess_into(image, pre, out[index])
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"image {index} of the batch: {exc}") from exc
    return out


def denormalize(x: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Undo :func:`preprocess`'s normalisation: CHW ``float32`` back to HWC ``uint8``.

    Args:
        x: ``(3, S, S)`` or ``(N, 3, S, S)`` normalised array.
        pre: The preprocessing that produced it.

    Returns:
        ``uint8`` array ``(S, S, 3)`` or ``(N, S, S, 3)`` (rounded and clipped), e.g. to show
        augmented samples.

    Example:
        >>> import numpy as np
        >>> from logobrand.models import Preprocessing
        >>> pre = Preprocessing(input_size=8)
        >>> img = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        >>> bool((denormalize(preprocess(img, pre), pre) == img).all())
        True
    """
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim not in (3, 4) or arr.shape[-3] != 3:
        raise InvalidArgumentError(
            f"denormalize: expected (3, H, W) or (N, 3, H, W), got shape {arr.shape}"
        )
    affine = _affine_for(_check_pre(pre))
    values = (arr - affine.offset[:, None, None]) / affine.scale[:, None, None]
    out = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(out, -3, -1))


# --------------------------------------------------------------------------------------------
# transform classes


class RandomTransform:
    """Base class of the random transforms: holds a generator and supports :meth:`reseed`."""

    rng: np.random.Generator

    def __init__(self, seed: SeedLike = None) -> None:
        self.rng = make_rng(seed)

    def reseed(self, seed: SeedLike) -> None:
        """Replace the random stream (see :func:`make_rng` for the accepted seeds)."""
        self.rng = make_rng(seed)


class Compose:
    """Apply transforms in order.

    Args:
        transforms: Callables mapping an array to an array.
        seed: When not ``None``, reseed every random member (including nested
            :class:`Compose`) with independent streams derived from this seed.

    Example:
        >>> import numpy as np
        >>> t = Compose([ToRGB(), Resize(8), HorizontalFlip(p=1.0), ToCHW()], seed=0)
        >>> t(np.zeros((5, 9), np.uint8)).shape
        (3, 8, 8)
    """

    def __init__(self, transforms: Sequence[Transform], seed: SeedLike = None) -> None:
        self.transforms: list[Transform] = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise InvalidArgumentError(f"Compose: {t!r} is not callable")
        if seed is not None:
            self.reseed(seed)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            image = t(image)
        return image

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[Transform]:
        return iter(self.transforms)

    def __getitem__(self, index: int) -> Transform:
        return self.transforms[index]

    def reseed(self, seed: SeedLike) -> None:
        """Give every random member an independent stream derived from ``seed``."""
        members = [t for t in self.transforms if callable(getattr(t, "reseed", None))]
        for member, rng in zip(members, _spawn(seed, len(members)), strict=True):
            member.reseed(rng)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {t!r}" for t in self.transforms)
        return f"Compose([\n{inner}\n])"


class ToRGB:
    """Convert grayscale, 1-, 3- or 4-channel ``uint8`` images to RGB (see :func:`to_rgb`)."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return to_rgb(image)

    def __repr__(self) -> str:
        return "ToRGB()"


class HorizontalFlip(RandomTransform):
    """Mirror the image left-right with probability ``p``.

    Flipping a logo mirrors its lettering; ``p=0.5`` follows the original tutorial, lower it
    (or use 0) for text-heavy brands.

    Args:
        p: Probability of flipping, in ``[0, 1]``.
        seed: See :func:`make_rng`.

    Example:
        >>> import numpy as np
        >>> HorizontalFlip(p=1.0)(np.array([[1, 2, 3]], np.uint8)).tolist()
        [[3, 2, 1]]
    """

    def __init__(self, p: float = 0.5, seed: SeedLike = None) -> None:
        super().__init__(seed)
        if not 0.0 <= float(p) <= 1.0:
            raise InvalidArgumentError(f"HorizontalFlip: p must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "HorizontalFlip")
        if self.rng.random() < self.p:
            return np.ascontiguousarray(image[:, ::-1])
        return image

    def __repr__(self) -> str:
        return f"HorizontalFlip(p={self.p})"


class RandomCrop(RandomTransform):
    """Crop a random window of ``size``.

    Args:
        size: ``int`` (square) or ``(height, width)``.
        seed: See :func:`make_rng`.
        pad_if_needed: Pad images smaller than ``size`` (centred) before cropping; when
            ``False`` such images raise :class:`InvalidArgumentError`.
        padding_mode: ``"reflect"`` (edge reflection, ``cv2.BORDER_REFLECT_101``) or
            ``"constant"`` (``fill``).
        fill: Constant padding value.

    Example:
        >>> import numpy as np
        >>> RandomCrop(4, seed=0)(np.zeros((2, 3, 3), np.uint8)).shape
        (4, 4, 3)
    """

    def __init__(
        self,
        size: SizeLike,
        seed: SeedLike = None,
        pad_if_needed: bool = True,
        padding_mode: str = "reflect",
        fill: int = 0,
    ) -> None:
        super().__init__(seed)
        self.size = _size_hw(size, "RandomCrop")
        self.pad_if_needed = bool(pad_if_needed)
        self.padding_mode = padding_mode
        self._border = _padding_mode(padding_mode, "RandomCrop")
        self.fill = int(fill)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "RandomCrop")
        h, w = self.size
        in_h, in_w = image.shape[:2]
        if in_h < h or in_w < w:
            if not self.pad_if_needed:
                raise InvalidArgumentError(
                    f"RandomCrop: image of {in_h}x{in_w} is smaller than the crop {h}x{w}; "
                    "use pad_if_needed=True or resize first"
                )
            image = _pad_to(image, h, w, self._border, self.fill)
            in_h, in_w = image.shape[:2]
        top = int(self.rng.integers(0, in_h - h + 1))
        left = int(self.rng.integers(0, in_w - w + 1))
        return np.ascontiguousarray(image[top : top + h, left : left + w])

    def __repr__(self) -> str:
        return (
            f"RandomCrop(size={self.size}, pad_if_needed={self.pad_if_needed}, "
            f"padding_mode={self.padding_mode!r})"
        )


class CenterCrop:
    """Crop the central window of ``size``; smaller images are padded first.

    Args:
        size: ``int`` (square) or ``(height, width)``.
        padding_mode: ``"reflect"`` (default) or ``"constant"``, used when the image is
            smaller than ``size``.
        fill: Constant padding value.

    Example:
        >>> import numpy as np
        >>> CenterCrop(2)(np.arange(16, dtype=np.uint8).reshape(4, 4)).tolist()
        [[5, 6], [9, 10]]
    """

    def __init__(self, size: SizeLike, padding_mode: str = "reflect", fill: int = 0) -> None:
        self.size = _size_hw(size, "CenterCrop")
        self.padding_mode = padding_mode
        self._border = _padding_mode(padding_mode, "CenterCrop")
        self.fill = int(fill)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "CenterCrop")
        h, w = self.size
        image = _pad_to(image, h, w, self._border, self.fill)
        in_h, in_w = image.shape[:2]
        top, left = (in_h - h) // 2, (in_w - w) // 2
        return np.ascontiguousarray(image[top : top + h, left : left + w])

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size}, padding_mode={self.padding_mode!r})"


class Resize:
    """Resize (INTER_AREA when both sides shrink, INTER_LINEAR otherwise).

    Args:
        size: ``int`` or ``(height, width)``.
        keep_aspect: ``False`` (default): squash to ``size`` x ``size`` (int) or exactly
            ``(height, width)``. ``True``: keep the aspect ratio; an ``int`` sets the shorter
            side, a tuple is the box the image is fitted into (the result fits inside it).

    Example:
        >>> import numpy as np
        >>> Resize(8)(np.zeros((30, 10, 3), np.uint8)).shape
        (8, 8, 3)
        >>> Resize(5, keep_aspect=True)(np.zeros((30, 10), np.uint8)).shape
        (15, 5)
    """

    def __init__(self, size: SizeLike, keep_aspect: bool = False) -> None:
        self.size = _size_hw(size, "Resize")
        self.square = isinstance(size, (int, np.integer))
        self.keep_aspect = bool(keep_aspect)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """Return the ``(height, width)`` an image of ``height`` x ``width`` is resized to."""
        h, w = self.size
        if not self.keep_aspect:
            return h, w
        factor = h / min(height, width) if self.square else min(h / height, w / width)
        return max(1, round(height * factor)), max(1, round(width * factor))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "Resize")
        h, w = self.output_size(*image.shape[:2])
        return _resize(image, h, w)

    def __repr__(self) -> str:
        size = self.size[0] if self.square else self.size
        return f"Resize(size={size}, keep_aspect={self.keep_aspect})"


class RandomResizedCrop(RandomTransform):
    """Crop a random area and aspect ratio, then resize it to ``size`` (Inception-style).

    The crop covers a fraction of the image area drawn uniformly from ``scale`` and has an
    aspect ratio (width / height) drawn log-uniformly from ``ratio``; after 10 failed draws it
    falls back to the largest central crop whose ratio lies in ``ratio``. Works for any image
    size, including 1x1.

    Args:
        size: Output ``int`` (square) or ``(height, width)``.
        scale: Range of the crop's area as a fraction of the image, within ``(0, 1]``.
        ratio: Range of the crop's width / height.
        seed: See :func:`make_rng`.

    Example:
        >>> import numpy as np
        >>> RandomResizedCrop(16, seed=0)(np.zeros((1, 40, 3), np.uint8)).shape
        (16, 16, 3)
    """

    def __init__(
        self,
        size: SizeLike,
        scale: tuple[float, float] = (0.35, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        seed: SeedLike = None,
    ) -> None:
        super().__init__(seed)
        self.size = _size_hw(size, "RandomResizedCrop")
        lo, hi = float(scale[0]), float(scale[1])
        if not 0.0 < lo <= hi <= 1.0:
            raise InvalidArgumentError(
                f"RandomResizedCrop: scale must satisfy 0 < min <= max <= 1, got {scale}"
            )
        r_lo, r_hi = float(ratio[0]), float(ratio[1])
        if not 0.0 < r_lo <= r_hi:
            raise InvalidArgumentError(
                f"RandomResizedCrop: ratio must satisfy 0 < min <= max, got {ratio}"
            )
        self.scale = (lo, hi)
        self.ratio = (r_lo, r_hi)

    def crop_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Draw a crop ``(top, left, crop_height, crop_width)`` for an image of that size."""
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * float(self.rng.uniform(self.scale[0], self.scale[1]))
            aspect = math.exp(float(self.rng.uniform(log_lo, log_hi)))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                top = int(self.rng.integers(0, height - h + 1))
                left = int(self.rng.integers(0, width - w + 1))
                return top, left, h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            h, w = height, round(height * self.ratio[1])
        else:
            h, w = height, width
        h, w = min(max(h, 1), height), min(max(w, 1), width)
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "RandomResizedCrop")
        top, left, h, w = self.crop_box(*image.shape[:2])
        crop = image[top : top + h, left : left + w]
        return np.ascontiguousarray(_resize(crop, *self.size))

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"


class ColorJitter(RandomTransform):
    """Randomly change brightness, contrast, saturation and hue (in that fixed order).

    Factors are drawn uniformly: brightness, contrast and saturation from
    ``[max(0, 1 - v), 1 + v]``, the hue shift from ``[-hue, hue]`` (fraction of the colour
    circle). Grayscale and 1-channel images get brightness and contrast only; the alpha
    channel of RGBA images is kept. All four factors are drawn on every call, so the random
    stream does not depend on the images.

    Args:
        brightness: Brightness jitter, >= 0.
        contrast: Contrast jitter (blend with the mean gray level), >= 0.
        saturation: Saturation jitter (blend with the grayscale image), >= 0.
        hue: Hue jitter in ``[0, 0.5]``.
        seed: See :func:`make_rng`.

    Example:
        >>> import numpy as np
        >>> img = np.full((4, 4, 3), 100, np.uint8)
        >>> ColorJitter(0.2, 0.2, 0.2, 0.02, seed=0)(img).shape
        (4, 4, 3)
    """

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        seed: SeedLike = None,
    ) -> None:
        super().__init__(seed)
        for name, value in (
            ("brightness", brightness),
            ("contrast", contrast),
            ("saturation", saturation),
        ):
            if not float(value) >= 0.0:
                raise InvalidArgumentError(f"ColorJitter: {name} must be >= 0, got {value}")
        if not 0.0 <= float(hue) <= 0.5:
            raise InvalidArgumentError(f"ColorJitter: hue must be in [0, 0.5], got {hue}")
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.hue = float(hue)

    def _factor(self, amount: float) -> float:
        return float(self.rng.uniform(max(0.0, 1.0 - amount), 1.0 + amount))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "ColorJitter")
        b = self._factor(self.brightness)
        c = self._factor(self.contrast)
        s = self._factor(self.saturation)
        h = float(self.rng.uniform(-self.hue, self.hue))
        if self.brightness == self.contrast == self.saturation == self.hue == 0.0:
            return image
        alpha = None
        if image.ndim == 3 and image.shape[2] == 4:
            color, alpha = image[:, :, :3], image[:, :, 3:]
        else:
            color = image
        is_rgb = color.ndim == 3 and color.shape[2] == 3
        x = color.astype(np.float32)
        if b != 1.0:
            x *= b
            np.clip(x, 0.0, 255.0, out=x)
        if c != 1.0:
            mean = float((x @ _GRAY_WEIGHTS).mean()) if is_rgb else float(x.mean())
            x -= mean
            x *= c
            x += mean
            np.clip(x, 0.0, 255.0, out=x)
        if is_rgb and s != 1.0:
            gray = (x @ _GRAY_WEIGHTS)[:, :, None]
            x -= gray
            x *= s
            x += gray
            np.clip(x, 0.0, 255.0, out=x)
        out: np.ndarray = np.clip(np.rint(x), 0, 255).astype(np.uint8)
        if is_rgb:
            shift = round(h * 256) % 256
            if shift:
                hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV_FULL)
                hsv[:, :, 0] = ((hsv[:, :, 0].astype(np.uint16) + shift) % 256).astype(np.uint8)
                out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=2)
        return out

    def __repr__(self) -> str:
        return (
            f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue})"
        )


class Normalize:
    """Scale ``uint8`` HWC to ``[0, 1]`` and normalise per channel: ``(x / 255 - mean) / std``.

    Args:
        mean: Per-channel means (1 value broadcasts to every channel).
        std: Per-channel standard deviations, > 0.

    The input must be ``uint8`` (2-D or HWC with as many channels as ``mean``); the output is
    ``float32`` of the same shape. :meth:`inverse` maps it back to ``uint8``.

    Example:
        >>> import numpy as np
        >>> norm = Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
        >>> x = norm(np.full((1, 1, 3), 255, np.uint8))
        >>> x.tolist(), norm.inverse(x).tolist()
        ([[[1.0, 1.0, 1.0]]], [[[255, 255, 255]]])
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        mean_t, std_t = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        finite = all(math.isfinite(v) for v in (*mean_t, *std_t))
        if len(mean_t) != len(std_t) or not mean_t or not finite or min(std_t) <= 0:
            raise InvalidArgumentError(
                f"Normalize: mean and std need the same number (>= 1) of finite values and "
                f"std > 0, "
                f"got mean={mean_t} std={std_t}"
            )
        self.mean, self.std = mean_t, std_t
        self._affine = _Affine(mean_t, std_t)

    def _params(self, image: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
        channels = 1 if image.ndim == 2 else image.shape[-1]
        if len(self.mean) not in (1, channels):
            raise InvalidArgumentError(
                f"{where}: {len(self.mean)} means for an image with {channels} channels; "
                "convert with ToRGB first"
            )
        scale, offset = self._affine.scale, self._affine.offset
        if image.ndim == 2 or len(self.mean) == 1:
            return scale[:1].reshape(()), offset[:1].reshape(())
        return scale, offset

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = _check_image(image, "Normalize")
        scale, offset = self._params(image, "Normalize")
        if image.ndim == 2:
            x = image.astype(np.float32)
            x *= scale
            x += offset
            return x
        # Computed plane by plane into a CHW buffer (much faster than broadcasting over the
        # trailing channel axis) and returned as an HWC view, so a following ToCHW is free.
        height, width, channels = image.shape
        planes = np.empty((channels, height, width), dtype=np.float32)
        scales = np.broadcast_to(scale, (channels,))
        offsets = np.broadcast_to(offset, (channels,))
        for channel, plane in enumerate(cv2.split(np.ascontiguousarray(image))):
            target = planes[channel]
            target[...] = plane
            target *= scales[channel]
            target += offsets[channel]
        return planes.transpose(1, 2, 0)

    def inverse(self, x: np.ndarray) -> np.ndarray:
        """Map a normalised HWC (or 2-D) array back to ``uint8`` (rounded, clipped)."""
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim not in (2, 3):
            raise InvalidArgumentError(
                f"Normalize.inverse: expected HxW or HxWxC, got shape {arr.shape}"
            )
        scale, offset = self._params(arr, "Normalize.inverse")
        values: np.ndarray = (arr - offset) / scale
        out: np.ndarray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return out

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class ToCHW:
    """Transpose HWC to a contiguous CHW array (a 2-D image becomes ``(1, H, W)``)."""

    def __call__(self, image: np.ndarray) -> np.ndarray:
        arr = np.asarray(image)
        if arr.ndim == 2:
            return np.ascontiguousarray(arr[None])
        if arr.ndim != 3:
            raise InvalidArgumentError(f"ToCHW: expected HxW or HxWxC, got shape {arr.shape}")
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def __repr__(self) -> str:
        return "ToCHW()"


class Preprocess:
    """The transform form of :func:`preprocess` (what :func:`eval_transform` wraps)."""

    def __init__(self, pre: Preprocessing) -> None:
        self.pre = _check_pre(pre)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return preprocess(image, self.pre)

    def __repr__(self) -> str:
        return f"Preprocess({self.pre!r})"


# --------------------------------------------------------------------------------------------
# pipelines


def train_transform(
    pre: Preprocessing,
    seed: SeedLike = None,
    *,
    flip_p: float = 0.5,
    enlarge: float = 1.15,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    jitter: tuple[float, float, float, float] = (0.2, 0.2, 0.2, 0.02),
) -> Compose:
    """Build the training augmentation pipeline for a model's preprocessing.

    ``ToRGB`` -> (when ``pre.canonical_size`` is set, squash to that size first, as
    :func:`preprocess` does) -> squash to ``round(S * enlarge)`` square (every photo, logo or
    not, gets the same geometry, which defuses the squashed-positives trap of Logos-32plus) ->
    ``RandomResizedCrop(S, scale, ratio)`` -> ``HorizontalFlip(flip_p)`` -> light
    ``ColorJitter(*jitter)`` -> ``Normalize(mean, std)`` -> ``ToCHW``.

    Args:
        pre: The model's preprocessing (``input_size``, ``mean``, ``std``).
        seed: Seeds every random step with independent derived streams (see :class:`Compose`).
        flip_p: Probability of a horizontal flip. Flipping mirrors logo lettering; 0.5 follows
            the original tutorial.
        enlarge: Side of the intermediate square relative to ``S`` (>= 1).
        scale: ``RandomResizedCrop`` area range.
        ratio: ``RandomResizedCrop`` aspect-ratio range.
        jitter: ``(brightness, contrast, saturation, hue)`` for :class:`ColorJitter`.

    Returns:
        A :class:`Compose` mapping any ``uint8`` image to ``float32`` ``(3, S, S)``.

    Example:
        >>> import numpy as np
        >>> from logobrand.models import Preprocessing
        >>> t = train_transform(Preprocessing(input_size=32), seed=0)
        >>> x = t(np.zeros((50, 80, 3), np.uint8))
        >>> x.shape, x.dtype
        ((3, 32, 32), dtype('float32'))
    """
    pre = _check_pre(pre)
    if not float(enlarge) >= 1.0:
        raise InvalidArgumentError(f"train_transform: enlarge must be >= 1, got {enlarge}")
    size = pre.input_size
    canonical: list[Transform] = (
        [] if pre.canonical_size is None else [Resize(pre.canonical_size)]  # as preprocess does
    )
    return Compose(
        [
            ToRGB(),
            *canonical,
            Resize(max(size, round(size * float(enlarge)))),
            RandomResizedCrop(size, scale=scale, ratio=ratio),
            HorizontalFlip(flip_p),
            ColorJitter(*jitter),
            Normalize(pre.mean, pre.std),
            ToCHW(),
        ],
        seed=seed,
    )


def eval_transform(pre: Preprocessing) -> Compose:
    """Return the evaluation pipeline: a :class:`Compose` equal to ``preprocess(., pre)``.

    Example:
        >>> import numpy as np
        >>> from logobrand.models import Preprocessing
        >>> pre = Preprocessing(input_size=16)
        >>> img = np.zeros((20, 30, 3), np.uint8)
        >>> bool((eval_transform(pre)(img) == preprocess(img, pre)).all())
        True
    """
    return Compose([Preprocess(pre)])


__all__ = [
    "MAX_SIDE",
    "CenterCrop",
    "ColorJitter",
    "Compose",
    "HorizontalFlip",
    "Normalize",
    "Preprocess",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomTransform",
    "Resize",
    "SeedLike",
    "ToCHW",
    "ToRGB",
    "Transform",
    "denormalize",
    "eval_transform",
    "make_rng",
    "preprocess",
    "preprocess_batch",
    "to_rgb",
    "train_transform",
]
