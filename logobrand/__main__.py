"""``python -m logobrand``: the same command line as ``logobrand`` (see :mod:`logobrand.cli`)."""

from __future__ import annotations

from logobrand.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
