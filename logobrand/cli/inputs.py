"""The inputs of ``logobrand predict``: files, URLs and folders expanded lazily, in order."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from logobrand.cli.args import is_folder
from logobrand.errors import InvalidArgumentError

if TYPE_CHECKING:
    from logobrand.inference import Failure, Prediction


class PredictInputs:
    """The inputs of ``logobrand predict``, expanded lazily and in order.

    Files and URLs pass through as they are; folders are walked with
    :func:`~logobrand.inference.pipeline.iter_image_files` one directory at a time (so a folder
    of millions of photos costs no memory up front). A folder without any image, or one that
    cannot be listed, becomes a :class:`~logobrand.inference.Failure` at its position.

    Use :meth:`sources` as the input of ``predict_batch`` and pass its results through
    :meth:`merge`, which puts those failures back in place.

    Args:
        inputs: Files, folders and URLs as given on the command line.

    Attributes:
        skipped: Files found in folders whose extension is not an image one (counted, not read).
        has_folders: Whether any input is a folder.

    Example:
        >>> # inputs = PredictInputs(["a.jpg", "photos/"])
        >>> # for result in inputs.merge(clf.predict_batch(inputs.sources())): ...
    """

    def __init__(self, inputs: Sequence[str]) -> None:
        self.inputs = list(inputs)
        self.skipped = 0
        self.has_folders = any(is_folder(t) for t in self.inputs)
        self._events: deque[Failure | None] = deque()  # None: the next source's result

    def _skip(self, path: Path) -> None:
        self.skipped += 1

    def count(self) -> int:
        """How many files and URLs :meth:`sources` will yield (folders are listed once more;
        listing is cheap next to decoding). A folder that cannot be listed counts 0."""
        from logobrand.inference.pipeline import iter_image_files

        total = 0
        for text in self.inputs:
            if not is_folder(text):
                total += 1
                continue
            with contextlib.suppress(InvalidArgumentError):  # reported in place by sources()
                total += sum(1 for _ in iter_image_files(text))
        return total

    def sources(self) -> Iterator[str]:
        """Yield the files and URLs to predict, in order (folders expanded lazily)."""
        from logobrand.inference import Failure
        from logobrand.inference.pipeline import iter_image_files

        for text in self.inputs:
            if not is_folder(text):  # a file or URL; an empty argument fails as a path
                self._events.append(None)
                yield text
                continue
            found = 0
            try:
                for path in iter_image_files(text, on_skip=self._skip):
                    found += 1
                    self._events.append(None)
                    yield str(path)
            except InvalidArgumentError as exc:  # a folder that cannot be listed
                self._events.append(Failure.from_exception(text, exc))
                continue
            if not found:
                self._events.append(
                    Failure(
                        source=text,
                        error=f"folder {text} holds no image file",
                        error_type="DatasetLayoutError",
                    )
                )

    def merge(
        self, results: Iterator[Prediction | Failure]
    ) -> Generator[Prediction | Failure, None, None]:
        """Yield one result per input, in order, with the folder failures in their places."""
        try:
            for result in results:
                while self._events and self._events[0] is not None:
                    failure = self._events.popleft()
                    assert failure is not None
                    yield failure
                if self._events:
                    self._events.popleft()  # the event of the source ``result`` belongs to
                yield result
            while self._events:
                event = self._events.popleft()
                if event is not None:
                    yield event
        finally:
            close = getattr(results, "close", None)
            if callable(close):
                close()  # ends the pipeline now: closes its progress bar and threads


__all__ = ["PredictInputs"]
