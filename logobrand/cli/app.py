"""The entry point: parse the command line, run the command, turn errors into exit codes."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence

from logobrand.cli.args import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXTRA_OF_MODULE,
    PROG,
    err,
)
from logobrand.cli.parser import build_parser
from logobrand.errors import LogoBrandError, missing_extra


def _quiet_export_warnings() -> None:
    """Hide the torch ONNX exporter's tracing chatter (harmless; shown with --verbose)."""
    for message in (
        r"Converting a tensor to a Python",
        r"Constant folding - Only steps=1",
        r"You are using the legacy TorchScript-based ONNX export",
    ):
        warnings.filterwarnings("ignore", message=message)


def _missing_module_error(exc: ImportError) -> LogoBrandError | None:
    name = (exc.name or "").split(".")[0]
    if name in EXTRA_OF_MODULE:
        return missing_extra(name, EXTRA_OF_MODULE[name])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: The arguments (without the program name); ``sys.argv[1:]`` when ``None``.

    Returns:
        The exit code (see :mod:`logobrand.cli`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        _quiet_export_warnings()
    try:
        code: int = args.func(args)
    except LogoBrandError as exc:
        err(f"{PROG} {args.command}: error: {exc}")
        return EXIT_ERROR
    except ImportError as exc:
        error = _missing_module_error(exc)
        if error is None:
            raise
        err(f"{PROG} {args.command}: error: {error}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        err(f"{PROG} {args.command}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout went away (e.g. `logobrand predict ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    return code


__all__ = ["main"]
