"""`python -m nst runs list|show|export|resume|print|delete`: the runs kept in the run store."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

from nst.cli.common import (
    Parser,
    Progress,
    RunKeeper,
    UsageError,
    deepest_layer,
    drive,
    store_or_say,
    warn,
)
from nst.cli.prints import add_print_command, print_run
from nst.engine.config import Config
from nst.engine.image import ImageInputError
from nst.engine.model import WeightsError, load_model, pick_device
from nst.engine.run import Run
from nst.record import trace
from nst.record.recorded import RecordedRun
from nst.record.schema import LIVE, StoredRun
from nst.record.store import Store, default_home


def build_runs_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m nst runs",
        description="The runs kept in the run store: the command line's and the dashboard's "
        f"(NST_HOME, here {default_home()}).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    ls = sub.add_parser("list", help="the stored runs, newest first")
    ls.add_argument("--json", action="store_true", help="a JSON list instead of a table")
    show = sub.add_parser("show", help="everything stored of a run, its config and changes included")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="as JSON (without the loss records)")
    export = sub.add_parser("export", help="a run's PNG (config embedded), JSON, CSV and GIF")
    export.add_argument("id", type=int)
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write to")
    resume = sub.add_parser(
        "resume", help="finish an interrupted or stopped run from its last checkpoint image"
    )
    resume.add_argument("id", type=int)
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    add_print_command(sub)
    delete = sub.add_parser("delete", help="delete a run and its files")
    delete.add_argument("id", type=int)
    return p


def runs_main(argv: list[str]) -> int:
    try:
        args = build_runs_parser().parse_args(argv)
    except UsageError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    store = store_or_say()
    if store is None:
        return 1
    try:
        if args.command == "list":
            return _list_runs(store, args.json)
        if args.command == "resume":
            return _resume(store, args.id, args.quiet)
        if args.command == "print":
            return print_run(store, args)
        stored = store.get_run(args.id, None)
        if args.command == "show":
            return _show(store, stored, args.json)
        if args.command == "export":
            return _export(stored, Path(args.output))
        if stored.status in LIVE:
            raise UsageError(f"run {args.id} is {stored.status} in another process; stop it first")
        store.delete_run(args.id, None)
        print(f"deleted run {args.id}")
        return 0
    except KeyError as exc:  # no such run (KeyError's str() would quote the message)
        print(f"nst: error: {exc.args[0]}", file=sys.stderr)
        return 2
    except (UsageError, ImageInputError, WeightsError, ValueError, OSError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds))


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _inputs(names: tuple[str, ...] | list[str], content: str) -> str:
    return f"{content} + {' + '.join(names)}"


def _list_runs(store: Store, as_json: bool) -> int:
    runs = store.list_runs(None)
    if as_json:
        rows = []
        for r in runs:
            row = dataclasses.asdict(r)
            row["image"] = str(row.pop("thumbnail")) if r.thumbnail else None
            row["final_loss"] = _finite(r.final_loss)
            rows.append(row)
        print(json.dumps(rows, indent=1))
        return 0
    if not runs:
        print(f"no stored runs (store: {store.home})")
        return 0
    head = ("id", "when", "status", "size", "steps", "loss", "content + styles")
    print("{:>4}  {:<16}  {:<11}  {:>5}  {:>5}  {:>9}  {}".format(*head))
    for r in runs:
        loss = f"{r.final_loss:9.3g}" if r.final_loss is not None else f"{'-':>9}"
        print(
            f"{r.id:>4}  {_when(r.created):<16}  {r.status:<11}  {r.size or '-':>5}  {r.evals:>5}  "
            f"{loss}  {_inputs(r.style_names, r.content_name)}"
        )
    return 0


def _facts(stored: StoredRun) -> dict:
    d = dataclasses.asdict(stored)
    for key in ("thumbnail", "progress"):
        d[key] = str(d[key]) if d[key] else None
    d["image"] = d.pop("thumbnail")
    d["final_loss"] = _finite(stored.final_loss)
    d["records"] = len(d.pop("history"))
    return d


def _show(store: Store, stored: StoredRun, as_json: bool) -> int:
    if as_json:
        print(json.dumps(_facts(stored), indent=1))
        return 0
    s = stored
    start = Config.from_dict(s.config)
    loss = f"{s.final_loss:.4g}" if s.final_loss is not None else "-"
    lines = [
        f"run {s.id}: {s.status}" + (f" ({s.message})" if s.message else ""),
        f"  source     {s.source} (owner {s.owner}), created {_when(s.created)}, "
        f"updated {_when(s.updated)}",
        f"  content    {s.content_name}  [{store.image_path(s.content)}]",
        *(
            f"  style      {name}  [{store.image_path(h)}]"
            for name, h in zip(s.style_names, s.styles, strict=False)
        ),
        f"  progress   {s.evals} of {s.config_at().steps} steps, {s.seconds:.1f} s on "
        f"{s.device or '?'}, final loss {loss}, {len(s.history)} loss records",
        f"  weights    {s.weights}",
        f"  image      {s.thumbnail or '(no checkpoint yet)'}",
        f"  animation  {s.progress or '-'}",
        *(
            f"  change     at step {step}: "
            + ", ".join(f"{k}={json.dumps(v)}" for k, v in changed.items())
            for step, changed in s.timeline()
        ),
        *(f"  event      at step {e['step']}: {e['text']}" for e in s.events),
        "  reproduce  " + trace.files(trace.of_stored(s), None, None).cli,
        "  config     " + start.to_json().replace("\n", "\n  "),
    ]
    print("\n".join(lines))
    return 0


def _export(stored: StoredRun, folder: Path) -> int:
    """DIR/<stem>.png (the config and changes embedded), .json, .csv, and .gif when stored: the
    files the dashboard's exports give (nst.record.trace)."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    print("\n".join(map(str, trace.stored_files(stored).write(folder))))
    if stored.thumbnail is None:
        warn(f"run {stored.id} has no image yet (no checkpoint was written)")
    return 0


def _resume(store: Store, run_id: int, quiet: bool) -> int:
    """Finish a stored run from its last checkpoint image, into the same stored run."""
    progress = Progress(quiet)

    def model_for(cfg: Config):
        return load_model(
            cfg.model, cfg.weights, pick_device(cfg.device), last_layer=deepest_layer(cfg)
        )

    def new_run(model, content, styles, cfg: Config) -> Run:
        return Run(model, content, styles, cfg, callback=progress)

    resumed = RecordedRun.resume(store, run_id, model_for, new_run)
    run, recorder = resumed.run, RunKeeper(resumed.recorded)
    print(f"nst: {resumed.said}", file=sys.stderr)
    if run.model.is_random:
        warn("untrained (random) weights: the result is not real style transfer")
    code = 0
    try:
        drive(run, resumed.pending, lambda: recorder.tick(run))
    except KeyboardInterrupt:
        run.stop()
        code = 130
    except ValueError as exc:  # a stored change this run cannot take
        recorder.finish(run, failed=str(exc))
        raise
    progress.close()
    recorder.finish(run)
    if run.status == "failed":
        print(f"nst: {run.message}", file=sys.stderr)
        code = code or 1
    print(
        f"run {run_id} {run.status}: {run.evals} steps, {run.seconds:.1f} s on {run.device}; "
        f"`python -m nst runs export {run_id} -o DIR`",
        file=sys.stderr,
    )
    return code
