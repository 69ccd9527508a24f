"""The ``logobrand`` argument parser: the main options, then each command's sub-parser.

Each command module registers its own sub-parser (``add_parser``) and sets ``func`` to its
handler; the order below is the order of ``logobrand --help``.
"""

from __future__ import annotations

import argparse

from logobrand import __version__
from logobrand.cli import (
    brands,
    evaluate,
    export,
    import_gluon,
    models,
    predict,
    quantize,
    train,
    train_boxes,
)
from logobrand.cli.args import PROG

_MAIN_EPILOG = """\
examples:
  logobrand predict photo.jpg                       the bundled model, one photo
  logobrand predict --model runs/m --json photos/   every image under photos/, JSON lines
  logobrand train --model efficientnet_lite0 --data ../shared/data/logos32plus \\
      --negatives ../shared/data/nologo --epochs 3 --out runs/m
  logobrand evaluate runs/m --data ../shared/data/logos32plus --negatives ../shared/data/nologo
  logobrand models

exit codes: 0 ok; 1 predict --strict with failed inputs; 2 usage or data/model error.
Set CI=true to turn progress bars off.
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the ``logobrand`` argument parser.

    Returns:
        The parser; each sub-command sets ``func`` to its handler.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Offline brand-logo recognition (FlickrLogos-32 brands) on a plain CPU.",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log library details (INFO) on stderr"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    for command in (
        train,
        evaluate,
        predict,
        models,
        export,
        quantize,
        train_boxes,
        import_gluon,
        brands,
    ):
        command.add_parser(sub)
    return parser


__all__ = ["build_parser"]
