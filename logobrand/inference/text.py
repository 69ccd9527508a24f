"""Reading brand names in photos, for gallery brands (the ``ocr`` extra).

Many logos are words: Intel, Yahoo, Vodafone, Unicef. A gallery brand added with ``texts``
(:meth:`LogoClassifier.add_brand(..., texts=["yahoo"])
<logobrand.inference.LogoClassifier.add_brand>`) is also recognised when one of those texts
is *read* in the photo, whatever its references look like. The decision rule
(:func:`logobrand.inference.gallery.decide`) puts this evidence after a confident
trained-class answer and before the similarity threshold.

Reading
    :class:`TextReader` runs RapidOCR (PP-OCRv6 small text detection and recognition, ONNX
    models bundled in the ``rapidocr`` wheel, so nothing is downloaded) on the model input
    itself (the photo resized to the model's input size, e.g. 320 x 320), so every path
    that runs the model (``predict``, ``predict_batch``, boxes, Spark, Ray) reads the same
    pixels. It costs about 50 ms per photo on 2 cores and runs only on photos for which
    the classifier alone is not confident. Lines read with a confidence below
    :data:`MIN_TEXT_CONFIDENCE` are ignored.

Matching (:class:`TextIndex`; the rule for one text: :func:`line_matches`)
    Texts and lines are compared as *keys*: lower case, letters and digits only, accents
    dropped (``"McDonald's"`` -> ``"mcdonalds"``). A key of 4 characters or fewer must be a whole
    word of the line (``"nbc"`` does not match ``"abnbcd"``); a longer key may appear
    anywhere in the line's key; a key of 6 or more characters also matches a part of the
    line's key at most one edit away (``"vodafone"`` matches ``"vodafonc"``). In a photo
    where some brand's text is read exactly, brands read only one edit away are dropped.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from typing import Any

import numpy as np

from logobrand.errors import InvalidArgumentError, missing_extra

MIN_TEXT_CONFIDENCE = 0.6
"""Lines read with a lower recognition confidence are ignored."""
SHORT_KEY = 4
"""Keys this long or shorter must match a whole word."""
FUZZY_KEY = 6
"""Keys this long or longer also match one edit away."""

Lines = list[tuple[str, float]]
"""The lines read in one photo: ``(text, confidence)`` pairs."""


def text_key(text: str) -> str:
    """Lower case, letters ``a-z`` and digits only, accents dropped: the form texts are
    compared in (a name in another script has an empty key).

    Example:
        >>> text_key("McDonald's"), text_key("Škoda")
        ('mcdonalds', 'skoda')
    """
    return _spaced_key(text).replace(" ", "")


def _spaced_key(text: str) -> str:
    """:func:`text_key` that keeps a space where other characters were (to split words)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^0-9a-z]+", " ", ascii_text.lower())


def _within_one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one insertion, deletion or substitution."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def line_matches(line: str, key: str) -> bool:
    """Whether one line read in a photo shows the text whose key is ``key`` (module doc).

    Example:
        >>> line_matches("Welcome to YAHOO!", "yahoo"), line_matches("abnbcd", "nbc")
        (True, False)
    """
    if not isinstance(line, str) or not isinstance(key, str):
        raise InvalidArgumentError(
            f"line_matches needs two strings, got {type(line).__name__} and {type(key).__name__}"
        )
    if not key:
        return False
    if len(key) <= SHORT_KEY:
        return key in _spaced_key(line).split()
    flat = text_key(line)
    if key in flat:
        return True
    if len(key) < FUZZY_KEY:
        return False
    for start in range(max(1, len(flat) - len(key) + 2)):
        for size in (len(key) - 1, len(key), len(key) + 1):
            part = flat[start : start + size]
            if len(part) == size and _within_one_edit(part, key):
                return True
    return False


class TextIndex:
    """Finds which brands' texts a line shows, fast with thousands of brands.

    Same rule as :func:`line_matches` for every text of every brand, with dictionary lookups
    instead of a loop over the brands: whole words for short keys, every substring of the
    line for longer ones, and, for keys of :data:`FUZZY_KEY` or more characters, the line's
    windows and their one-character deletions looked up among the keys and their
    one-character deletions (each candidate is then checked exactly). 3,400 brands: about
    0.5 ms per line instead of about 100 ms.

    Args:
        brand_texts: For each brand (column), its texts; a brand may have none.

    Example:
        >>> index = TextIndex([["Intel"], [], ["Vodafone", "Voda"]])
        >>> sorted(index.brands_in("VODAFONC store, INTEL inside"))
        [0, 2]
        >>> index.scores([[("intel inside", 0.93), ("core i7", 0.88)]])
        array([[0.93, 0.  , 0.  ]], dtype=float32)
    """

    def __init__(self, brand_texts: Sequence[Sequence[str]]) -> None:
        if isinstance(brand_texts, str) or any(
            isinstance(texts, str) or not all(isinstance(t, str) for t in texts)
            for texts in brand_texts
        ):
            raise InvalidArgumentError(
                "brand_texts must hold, for each brand, a list of texts, e.g. [['yahoo'], []]; "
                f"got {brand_texts!r}"[:300]
            )
        self._brands = len(brand_texts)
        self._words: dict[str, set[int]] = {}
        self._keys: dict[str, set[int]] = {}
        self._fuzzy: dict[str, set[str]] = {}  # a key or one of its deletions -> keys
        for brand, texts in enumerate(brand_texts):
            for key in {text_key(t) for t in texts} - {""}:
                table = self._words if len(key) <= SHORT_KEY else self._keys
                table.setdefault(key, set()).add(brand)
                if len(key) >= FUZZY_KEY:
                    for variant in {key, *_deletions(key)}:
                        self._fuzzy.setdefault(variant, set()).add(key)
        self._lengths = sorted({len(k) for k in self._keys})
        fuzzy_lengths = {len(k) for k in self._keys if len(k) >= FUZZY_KEY}
        self._window_sizes = sorted({n + d for n in fuzzy_lengths for d in (-1, 0, 1)})

    def brands_in(self, line: str) -> set[int]:
        """The brands (column indices) one of whose texts ``line`` shows."""
        exact, near = self._matches(line)
        return exact | near

    def _matches(self, line: str) -> tuple[set[int], set[int]]:
        """The brands whose texts ``line`` shows exactly, and those it shows one edit away only."""
        exact: set[int] = set()
        for word in _spaced_key(line).split():
            exact |= self._words.get(word, set())
        flat = text_key(line)
        for size in self._lengths:
            for start in range(len(flat) - size + 1):
                exact |= self._keys.get(flat[start : start + size], set())
        near: set[int] = set()
        for size in self._window_sizes:
            for start in range(len(flat) - size + 1):
                window = flat[start : start + size]
                candidates = set(self._fuzzy.get(window, ()))
                for variant in _deletions(window):
                    candidates |= self._fuzzy.get(variant, set())
                for key in candidates:
                    if not self._keys[key] <= exact | near and _within_one_edit(window, key):
                        near |= self._keys[key] - exact
        return exact, near

    def scores(self, lines: Sequence[Lines]) -> np.ndarray:
        """For each photo (row) and brand (column), the best confidence of a line that shows
        one of the brand's texts; 0.0 when none does. ``(N, B)`` float32.

        Lines below :data:`MIN_TEXT_CONFIDENCE` are ignored. When a photo shows some brand's
        text exactly, brands read only one edit away in it are dropped (``"TSINGTAO"`` is
        Tsingtao, not Singha one letter off).
        """
        out = np.zeros((len(lines), self._brands), np.float32)
        for row, photo_lines in enumerate(lines):
            near_only = np.zeros(self._brands, np.float32)
            for line, confidence in photo_lines:
                if confidence >= MIN_TEXT_CONFIDENCE:
                    exact, near = self._matches(line)
                    for brand in exact:
                        out[row, brand] = max(out[row, brand], confidence)
                    for brand in near:
                        near_only[brand] = max(near_only[brand], confidence)
            if not out[row].any():
                out[row] = near_only
        return out


def _deletions(text: str) -> set[str]:
    """Every string made by deleting one character of ``text``."""
    return {text[:i] + text[i + 1 :] for i in range(len(text))}


class TextReader:
    """Reads the text lines in images with RapidOCR (the ``ocr`` extra).

    Args:
        threads: ONNX Runtime intra-op threads of the OCR models (default: every core).

    Raises:
        MissingExtraError: ``rapidocr`` is not installed.
    """

    def __init__(self, threads: int | None = None) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise missing_extra("rapidocr", "ocr") from exc
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": False,  # logos are upright; the angle model cost 20 % more
            "Det.limit_type": "max",  # the model input is small: never enlarge it
            "Det.limit_side_len": 640,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads or -1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._engine = RapidOCR(params=params)
        self._lock = threading.Lock()

    def read(self, images: np.ndarray) -> list[Lines]:
        """The lines read in each image.

        Args:
            images: ``(N, H, W, 3)`` RGB ``uint8`` images.

        Returns:
            For each image, its ``(text, confidence)`` lines (empty when none).
        """
        arr = np.asarray(images)
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or 0 in arr.shape[1:3]:
            raise InvalidArgumentError(
                f"TextReader.read needs (N, H, W, 3) uint8 RGB images, got {arr.dtype} {arr.shape}"
            )
        out: list[Lines] = []
        for image in arr:
            bgr = np.ascontiguousarray(image[..., ::-1])
            with self._lock:
                result = self._engine(bgr)
            texts = getattr(result, "txts", None) or ()
            scores = getattr(result, "scores", None) or ()
            out.append([(str(t), float(s)) for t, s in zip(texts, scores, strict=False)])
        return out
