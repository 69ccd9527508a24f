"""Words as evidence for the trained brands: read the name, when the picture is unsure.

Many of the 32 logos are words (Paulaner, Heineken, Coca-Cola, Esso, FedEx, ...). With words
on, a photo whose best brand stays under the threshold is read with OCR
(:class:`~logobrand.inference.text.TextReader`, the ``ocr`` extra), and a brand whose name
is read becomes the answer when the classifier gives that brand at least a small probability
(``floor``, chosen on validation photos): the name and the picture must agree a little, which
keeps a read of "corona" on a pandemic sign from becoming Corona beer.

Matching (stricter than the gallery's :func:`~logobrand.inference.text.line_matches`, since
the trained brands' names are common words): a brand text matches a line when its words
appear in the line as whole, consecutive words (``"stella artois"``); a one-word text of
:data:`FUZZY_WORD` or more letters also matches a whole word one edit away
(``"heinekem"``). ``"CORONAVIRUS"`` does not show ``"corona"``; ``"Coca-Cola"`` shows
``"coca cola"``. When two brands are read in one photo, the one the classifier ranks higher
answers.

The texts of each brand live in the model directory (``brand_texts.json``, editable:
``{"brand": ["text", ...]}``); :data:`DEFAULT_BRAND_TEXTS` holds those of the 32
FlickrLogos-32 brands. Nothing here needs torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from logobrand.errors import ModelFormatError
from logobrand.inference.text import MIN_TEXT_CONFIDENCE, Lines, _spaced_key, _within_one_edit

BRAND_TEXTS_FILE = "brand_texts.json"
"""File name of the trained brands' texts in a model directory."""

FUZZY_WORD = 6
"""One-word texts this long or longer also match a word one edit away."""

DEFAULT_BRAND_TEXTS: dict[str, tuple[str, ...]] = {
    "HP": ("hewlett packard",),  # "hp" alone is read in too many places
    "adidas": ("adidas",),
    "aldi": ("aldi",),
    "apple": (),  # a picture, no word
    "becks": ("becks", "beck s"),
    "bmw": ("bmw",),
    "carlsberg": ("carlsberg",),
    "chimay": ("chimay",),
    "cocacola": ("coca cola", "cocacola", "coke"),
    "corona": ("corona extra", "corona"),
    "dhl": ("dhl",),
    "erdinger": ("erdinger",),
    "esso": ("esso",),
    "fedex": ("fedex",),
    "ferrari": ("ferrari",),
    "ford": ("ford",),
    "fosters": ("fosters", "foster s"),
    "google": ("google",),
    "guiness": ("guinness",),
    "heineken": ("heineken",),
    "milka": ("milka",),
    "nvidia": ("nvidia",),
    "paulaner": ("paulaner",),
    "pepsi": ("pepsi",),
    "rittersport": ("ritter sport", "rittersport"),
    "shell": ("shell",),
    "singha": ("singha",),
    "starbucks": ("starbucks",),
    "stellaartois": ("stella artois", "stellaartois"),
    "texaco": ("texaco",),
    "tsingtao": ("tsingtao",),
    "ups": ("ups",),
}
"""The texts of the 32 FlickrLogos-32 brands (folder names as in ``logos32plus/``)."""


@dataclass(frozen=True)
class WordsSettings:
    """The words rule's settings, stored in ``config.json`` (``words``).

    Attributes:
        floor: Probability the classifier must give a brand whose name is read for the name
            to answer, in ``[0, 1]``.
        look: Photos whose best brand probability is below this are not read at all (they
            are most photos without a logo; reading costs about 50 ms a photo), in ``[0, 1]``.
    """

    floor: float = 0.01
    look: float = 0.0

    def to_dict(self) -> dict[str, float]:
        """Return the JSON-ready content."""
        return {"floor": self.floor, "look": self.look}


def text_shows(line: str, text: str) -> bool:
    """Whether one line read in a photo shows a brand text (module doc).

    Example:
        >>> text_shows("CORONAVIRUS: keep your distance", "corona")
        False
        >>> text_shows("Coca-Cola", "coca cola"), text_shows("HEINEKEM", "heineken")
        (True, True)
    """
    words = _spaced_key(line).split()
    key = _spaced_key(text).split()
    if not key:
        return False
    n = len(key)
    for start in range(len(words) - n + 1):
        if words[start : start + n] == key:
            return True
    if n == 1 and len(key[0]) >= FUZZY_WORD:
        return any(_within_one_edit(word, key[0]) for word in words)
    return False


def brands_read(lines: Lines, texts: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """The brands whose texts ``lines`` show, with the best confidence of a line showing each.

    Lines below :data:`~logobrand.inference.text.MIN_TEXT_CONFIDENCE` are ignored.
    """
    found: dict[str, float] = {}
    for line, confidence in lines:
        if confidence < MIN_TEXT_CONFIDENCE:
            continue
        for brand, brand_texts in texts.items():
            if any(text_shows(line, t) for t in brand_texts):
                found[brand] = max(found.get(brand, 0.0), float(confidence))
    return found


def brand_from_words(
    probs: np.ndarray, labels: Sequence[str], read: Mapping[str, float], floor: float
) -> str | None:
    """The brand the words rule answers for one unsure photo, or ``None``.

    Args:
        probs: ``(C,)`` calibrated probabilities of the photo (columns in ``labels`` order).
        labels: The model's labels.
        read: :func:`brands_read` of the photo.
        floor: The classifier's probability a read brand needs.
    """
    candidates = [(float(probs[labels.index(b)]), b) for b in read if b in labels]
    candidates = [c for c in candidates if c[0] >= floor]
    return max(candidates)[1] if candidates else None


def load_brand_texts(directory: str | Path, labels: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The trained brands' texts of a model directory: its ``brand_texts.json``, else the
    defaults of the brands it knows.

    Raises:
        ModelFormatError: The file is not a JSON object of brand -> list of texts, or names a
            brand the model does not know.
    """
    path = Path(directory) / BRAND_TEXTS_FILE
    if not path.is_file():
        return {b: DEFAULT_BRAND_TEXTS[b] for b in labels if b in DEFAULT_BRAND_TEXTS}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFormatError(f"{path} is not readable JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in data.values()
    ):
        raise ModelFormatError(
            f'{path} must map each brand to a list of texts, e.g. {{"heineken": ["heineken"]}}'
        )
    unknown = sorted(set(data) - set(labels))
    if unknown:
        raise ModelFormatError(f"{path} names brands the model does not know: {unknown}")
    return {brand: tuple(texts) for brand, texts in data.items()}


__all__ = [
    "BRAND_TEXTS_FILE",
    "DEFAULT_BRAND_TEXTS",
    "FUZZY_WORD",
    "WordsSettings",
    "brand_from_words",
    "brands_read",
    "load_brand_texts",
    "text_shows",
]
