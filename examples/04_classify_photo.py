"""Step 5 of the tutorial: ``classify_logo``, recognise the brand in one photo.

The tutorial's ``classify_logo(path)`` loads a photo, transforms it like the validation data,
runs the network and prints the predicted brand. Here that is two lines::

    clf = LogoClassifier.from_pretrained(model_dir)   # None: the bundled default model
    prediction = clf.predict(photo)                   # a path, an http(s) URL, bytes, an array

The model runs on ONNX Runtime (no torch needed) and applies the model's calibrated
"no logo" threshold: ``prediction.brand`` is ``None`` when no brand is likely enough.

Which model: ``--model DIR`` (a model directory, e.g. ``runs/03_finetune/best`` from
``03_finetune.py``), else the model bundled with logobrand, else (when this copy ships
without one) the model that ``03_finetune.py`` wrote to ``runs/03_finetune/best``.

Run::

    python examples/04_classify_photo.py                       # an Adidas photo of FlickrLogos-27
    python examples/04_classify_photo.py my_photo.jpg --top-k 3
    python examples/04_classify_photo.py https://example.com/photo.jpg --model runs/03_finetune/best
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from logobrand.images import load_image
from logobrand.inference import DEFAULT_MODEL_DIR, LogoClassifier

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
FALLBACK_MODEL = Path("runs/03_finetune/best")


def choose_model(model: Path | None) -> Path | None:
    """The model directory to load (``None`` means the bundled model)."""
    if model is not None:
        return model
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return None
    if (FALLBACK_MODEL / "config.json").is_file():
        print(f"no bundled model in this copy of logobrand; using {FALLBACK_MODEL}")
        return FALLBACK_MODEL
    sys.exit(
        "no bundled model in this copy of logobrand and no --model DIR; train one first, "
        "e.g. python examples/03_finetune.py --fast"
    )


def main() -> None:
    """Parse the arguments and classify the photo."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", nargs="?", help="a photo path or an http(s) URL")
    parser.add_argument("--model", type=Path, help="model directory [the bundled model]")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument("--fast", action="store_true", help="accepted for symmetry; no effect")
    parser.add_argument("--out", type=Path, default=Path("runs/04_classify_photo"))
    args = parser.parse_args()
    photo = args.photo or str(args.data_root / "flickrlogos27" / "images" / "144503924.jpg")

    clf = LogoClassifier.from_pretrained(choose_model(args.model))
    print(clf)
    prediction = clf.predict(photo, top_k=args.top_k)

    if prediction.brand is None:
        print(f"{photo}: no logo recognised (confidence {prediction.score:.3f})")
    else:
        print(f"{photo}: {prediction.brand} (probability {prediction.score:.3f})")
    for label, probability in prediction.top_k:
        print(f"  {label:<14} {probability:.3f}")
    print(json.dumps(prediction.to_dict()))

    if importlib.util.find_spec("matplotlib") is not None:
        from logobrand.plotting import show_images

        caption = f"{prediction.brand or 'no logo'} ({prediction.score:.2f})"
        path = args.out / "prediction.png"
        show_images([load_image(photo)], [caption], ncols=1, path=path)
        print(f"saved {path}")


if __name__ == "__main__":
    main()
