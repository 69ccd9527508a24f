"""``logobrand predict``: recognise brands in photos (files, folders, URLs), optionally with
boxes."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logobrand.cli.args import (
    EXIT_ERROR,
    EXIT_FAILED_INPUTS,
    EXIT_OK,
    PROG,
    SHOWN_FAILURES,
    HelpFormatter,
    add_threshold_options,
    ci,
    err,
    load_classifier,
    non_negative_int,
    positive_int,
    with_threshold,
)
from logobrand.cli.inputs import PredictInputs
from logobrand.errors import InvalidArgumentError, LogoBrandError

if TYPE_CHECKING:
    from logobrand.inference import Failure, LogoClassifier, Prediction


def _stream_predictions(
    clf: LogoClassifier,
    sources: Iterable[str],
    *,
    batch_size: int,
    workers: int | None,
    top_k: int,
    progress: bool,
    total: int | None,
    server_policy: bool,
) -> Iterator[Prediction | Failure]:
    """``clf.predict_batch`` over ``sources``, with the server URL policy when asked."""
    policy = None
    if server_policy:
        from logobrand.images_fetch import SERVER_POLICY

        policy = SERVER_POLICY
    return clf.predict_batch(
        sources,
        batch_size=batch_size,
        workers=workers,
        top_k=top_k,
        progress=progress,
        total=total,
        fetch_policy=policy,
    )


def _format_result(result: Prediction | Failure) -> str:
    if not result.ok:
        failure: Failure = result  # type: ignore[assignment]
        return f"{failure.source}: FAILED ({failure.error_type}: {failure.error})"
    prediction: Prediction = result  # type: ignore[assignment]
    if prediction.brand is not None:
        line = f"{prediction.source}: {prediction.brand} {prediction.score:.3f}"
    elif prediction.closest is not None and prediction.threshold is not None:
        line = (
            f"{prediction.source}: no logo (closest: {prediction.closest} "
            f"{prediction.score:.3f} < threshold {prediction.threshold:.3f})"
        )
    else:
        line = f"{prediction.source}: no logo"
    if prediction.top_k:
        top = ", ".join(f"{label} {score:.3f}" for label, score in prediction.top_k)
        line += f"  [top: {top}]"
    if prediction.image_size is not None:  # --boxes
        found = "; ".join(
            f"{b.x1:.0f},{b.y1:.0f},{b.x2:.0f},{b.y2:.0f} {b.score:.3f}" for b in prediction.boxes
        )
        line += f"  [boxes: {found or 'none'}]"
    return line


class _BoxStream:
    """``predict --boxes/--draw``: predictions with boxes, drawn into ``--draw`` when asked.

    With ``--draw`` the stream keeps each photo's full-resolution pixels (decoded once) and
    hands them over with its result; each source is remembered until its result comes back
    (results come in source order), to name its drawing. Drawings that fail are counted.
    """

    def __init__(self, clf: LogoClassifier, args: argparse.Namespace) -> None:
        self.clf = clf
        self.args = args
        self.pending: deque[str] = deque()
        self.taken: set[str] = set()
        self.drawn = 0
        self.draw_failures: list[str] = []

    def _tee(self, sources: Iterable[str]) -> Iterator[str]:
        for source in sources:
            self.pending.append(source)
            yield source

    def run(
        self, sources: Iterable[str], *, progress: bool, total: int | None
    ) -> Generator[Prediction | Failure, None, None]:
        from logobrand.inference.classifier import default_workers
        from logobrand.plotting import save_drawing

        policy = None
        if self.args.no_private_urls:
            from logobrand.images_fetch import SERVER_POLICY

            policy = SERVER_POLICY
        stream = self.clf.prediction_stream(
            top_k=self.args.top_k,
            boxes=True,
            fetch_policy=policy,
            full_pixels=self.args.draw is not None,
        )
        batching: dict[str, Any] = {
            "batch_size": self.args.batch_size,
            "workers": self.args.workers or default_workers(),
            "progress": progress,
            "total": total,
        }
        if self.args.draw is None:
            yield from stream.predict_many(sources, **batching)
            return
        # the photo decoded for the model is drawn on: no second decode (or download)
        pairs = stream.predict_many_with_pixels(self._tee(sources), **batching)
        try:
            for result, pixels in pairs:
                source = self.pending.popleft()
                if result.ok:
                    try:
                        save_drawing(
                            source,
                            result,  # type: ignore[arg-type]
                            self.args.draw,
                            taken=self.taken,
                            fetch_policy=policy,
                            pixels=pixels,
                        )
                        self.drawn += 1
                    except (LogoBrandError, OSError) as exc:
                        self.draw_failures.append(f"{source} ({exc})")
                yield result
        finally:
            pairs.close()  # stops the pipeline's threads when the caller stops early


def _cmd_predict(args: argparse.Namespace) -> int:
    if args.draw is not None and os.path.lexists(args.draw) and not os.path.isdir(args.draw):
        raise InvalidArgumentError(
            f"--draw {args.draw} is a file; pass a folder for the drawings (created if missing)"
        )
    clf = with_threshold(load_classifier(args.model, threads=args.threads), args)
    inputs = PredictInputs(args.inputs)
    # a bar only for folders, only on a terminal (no carriage returns in logs), with a total
    progress = (
        inputs.has_folders and not (ci() or args.quiet or args.no_progress) and sys.stderr.isatty()
    )
    total = inputs.count() if progress else len(inputs.inputs)
    progress = progress and total > 0
    boxes = _BoxStream(clf, args) if args.boxes or args.draw is not None else None
    results: Iterator[Prediction | Failure]
    if boxes is not None:
        results = boxes.run(inputs.sources(), progress=progress, total=total)
    else:
        results = _stream_predictions(
            clf,
            inputs.sources(),
            batch_size=args.batch_size,
            workers=args.workers,
            top_k=args.top_k,
            progress=progress,
            total=total,
            server_policy=args.no_private_urls,
        )
    failures: list[Failure] = []
    n = 0
    merged = inputs.merge(results)
    try:
        for result in merged:
            n += 1
            if not result.ok:
                failures.append(result)  # type: ignore[arg-type]
            line = json.dumps(result.to_dict()) if args.json else _format_result(result)
            print(line, flush=args.json)
    finally:
        merged.close()
    skipped = inputs.skipped
    if skipped:
        err(f"{PROG} predict: skipped {skipped} file(s) in folders that are not images")
    if boxes is not None and args.draw is not None:
        err(f"{PROG} predict: drew {boxes.drawn} photo(s) into {args.draw}")
        if boxes.draw_failures:
            shown = "; ".join(boxes.draw_failures[:SHOWN_FAILURES])
            err(f"{PROG} predict: {len(boxes.draw_failures)} drawing(s) failed: {shown}")
    if failures:
        shown = "; ".join(f"{f.source} ({f.error_type})" for f in failures[:SHOWN_FAILURES])
        extra = len(failures) - SHOWN_FAILURES
        more = f" and {extra} more" if extra > 0 else ""
        err(f"{PROG} predict: {len(failures)} of {n} input(s) failed: {shown}{more}")
    if n == 0 or len(failures) == n:
        err(f"{PROG} predict: no input could be read")
        return EXIT_ERROR
    if args.strict and (failures or (boxes is not None and boxes.draw_failures)):
        return EXIT_FAILED_INPUTS
    return EXIT_OK


_PREDICT_EPILOG = """\
examples:
  logobrand predict photo.jpg
  logobrand predict --model runs/lite0 --top-k 3 a.jpg b.png https://example.com/c.jpg
  logobrand predict --json photos/ > predictions.jsonl
  logobrand predict --strict --json photos/ || echo "some photos failed"
  logobrand predict --model runs/lite0 --boxes --json photo.jpg   where the logo is
  logobrand predict --model runs/lite0 --draw drawn/ photos/      annotated copies in drawn/

Folders are searched recursively for image files (sorted by path). Results come one per input,
in input order; an input that cannot be read is reported in its place (with --json as
{"source", "error", "error_type"}) and the others go on. A summary of the failures goes to
stderr. URLs are fetched with the library's default policy (private addresses allowed); pass
--no-private-urls when the inputs come from someone else.
"""


def add_parser(sub: Any) -> None:
    """Register ``logobrand predict`` on the main parser's sub-parsers.

    Args:
        sub: The object returned by ``parser.add_subparsers()``.
    """
    p = sub.add_parser(
        "predict",
        help="recognise brands in photos (files, folders, URLs)",
        description="Recognise the brand in each photo with an ONNX model (no torch needed).",
        epilog=_PREDICT_EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder or http(s) URL")
    p.add_argument("--model", help="model directory or checkpoint folder [the bundled model]")
    p.add_argument("--json", action="store_true", help="one JSON object per input and line")
    p.add_argument("--top-k", type=non_negative_int, default=5, help="labels listed per photo")
    p.add_argument(
        "--batch-size", type=positive_int, default=4, help="images per ONNX run (4: fastest here)"
    )
    p.add_argument("--workers", type=positive_int, help="decoding threads [all cores]")
    p.add_argument("--threads", type=positive_int, help="ONNX Runtime threads [all cores]")
    p.add_argument("--strict", action="store_true", help="exit with code 1 if any input failed")
    add_threshold_options(p)
    p.add_argument(
        "--boxes",
        action="store_true",
        help="also locate the brand: boxes in photo pixels (box head, else activation map)",
    )
    p.add_argument(
        "--draw",
        metavar="OUT_DIR",
        type=Path,
        help="write a copy of each photo with its boxes drawn into OUT_DIR (implies --boxes)",
    )
    p.add_argument(
        "--no-private-urls",
        action="store_true",
        help="refuse URLs of loopback/private/link-local addresses (the server policy)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar for folders")
    p.add_argument("--quiet", action="store_true", help="same as --no-progress")
    p.set_defaults(func=_cmd_predict)


__all__ = ["add_parser"]
