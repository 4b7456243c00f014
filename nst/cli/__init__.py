"""Command line: `python -m nst CONTENT STYLE [STYLE ...] -o OUT.png`, `python -m nst runs ...`
and `python -m nst sweep ...`.

The flags are generated from `nst.engine.config.Config`, so their defaults and help are the dashboard's.
Every run is also kept in the run store (`nst.record.store`; `--no-store` skips it): checkpointed every
few seconds, so a killed run can be resumed (`runs resume ID`) from its last image.
Exit codes: 0 done; 1 the run failed (diverged, out of memory; the last good image is still
written); 2 bad input or usage, with one line on stderr; 130 interrupted (image written).
"""

from __future__ import annotations

import sys

from nst.cli.common import config_from_args, parse_change
from nst.cli.runs import runs_main
from nst.cli.stylize import build_parser, stylize
from nst.cli.sweep import sweep_main

__all__ = ["build_parser", "config_from_args", "main", "parse_change"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["runs"]:
        return runs_main(argv[1:])
    if argv[:1] == ["sweep"]:
        return sweep_main(argv[1:])
    return stylize(argv)
