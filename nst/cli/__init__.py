"""Command line: `python -m nst CONTENT STYLE [STYLE ...] -o OUT.png`, `python -m nst runs ...`
and `python -m nst sweep ...`.

The flags are generated from `nst.engine.config.Config`, so their defaults and help are the dashboard's.
Every run is also kept in the run store (`nst.record.store`; `--no-store` skips it): checkpointed every
few seconds, so a killed run can be resumed (`runs resume ID`) from its last image.
Exit codes: 0 done; 1 the run failed (diverged, out of memory; the last good image is still
written); 2 bad input or usage, with one line on stderr; 130 interrupted (image written).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import types
import typing
from pathlib import Path

from PIL import Image

from nst import samples
from nst.engine.config import MAX_STEPS, PRESETS, Config, from_environment, parse_style_weights, preset
from nst.engine.image import ImageInputError, load_image
from nst.engine.model import WeightsError, layer_table, load_model, pick_device
from nst.engine.run import Event, Iterate, Run
from nst.record.export import cli_command, gif_bytes, png_bytes
from nst.record.store import LIVE, Store, StoredRun, default_home


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, no usage dump
        raise UsageError(message)


def _as_argtype(fn, name: str):
    def parse(text: str):
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse


def _parse_blend(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"blend weights {text!r} must be numbers separated by commas") from None


MAX_INPUT_SIDE = 2048  # px: inputs are read no larger (the dashboard's uploads too)


def parse_change(text: str) -> tuple[int, str, object]:
    """'STEP:FIELD=VALUE' -> (step, field, value), the value parsed as its flag would be."""
    step, sep, rest = text.partition(":")
    name, eq, value = rest.partition("=")
    name = name.strip().replace("-", "_")
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if not (sep and eq and step.strip().isdigit()):
        raise ValueError(f"--change {text!r}: write STEP:FIELD=VALUE, e.g. 8:style_strength=5")
    if name not in fields:
        raise ValueError(f"--change {text!r}: no setting named {name!r}")
    convert = _field_type(fields[name])
    try:
        if (
            name == "time_budget"
            and value.strip()
            and float(value) == 0
            or name == "beta"
            and not value.strip()
        ):
            parsed = None
        else:
            parsed = convert(value)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise ValueError(f"--change {text!r}: {exc}") from None
    return int(step), name, parsed


def _field_type(f: dataclasses.Field):
    if f.name == "style_weights":
        return _as_argtype(parse_style_weights, "style weights")
    if f.name == "style_blend":
        return _as_argtype(_parse_blend, "blend weights")
    hint = typing.get_type_hints(Config)[f.name]
    if isinstance(hint, types.UnionType):  # float | None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m nst",
        description="Neural style transfer (Gatys et al. 2016) on "
        "a pretrained VGG. CONTENT and STYLE are image files or sample names "
        f"({', '.join(samples.ALL)}).",
        epilog="Stored runs: python -m nst runs list|show|export|resume|delete "
        "(python -m nst runs --help). Grids of settings, batches of photos: python -m nst sweep "
        "(python -m nst sweep --help).",
    )
    p.add_argument("content", help="the photo whose layout the output keeps")
    p.add_argument("styles", nargs="+", metavar="style", help="one or more style images")
    p.add_argument("-o", "--output", required=True, help="output PNG (config embedded)")
    p.add_argument(
        "--change",
        action="append",
        default=[],
        metavar="STEP:FIELD=VALUE",
        help="change a setting when the run reaches STEP, as a paused dashboard run does "
        "(repeatable; the dashboard's 'reproduce' command writes these)",
    )
    p.add_argument("--metrics", help="write config, device, seconds, evals and history as JSON")
    p.add_argument(
        "--save-every",
        type=int,
        default=0,
        metavar="N",
        help="also write every N-th step as OUT_000N.png",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-store",
        action="store_true",
        help="do not keep the run in the run store (NST_HOME); see `python -m nst runs --help`",
    )
    _add_config_flags(p)
    return p


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """--preset and a flag for every Config field, grouped as the sidebar groups them."""
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="default",
        help="starting settings; other flags override them",
    )
    groups = {}
    for f in dataclasses.fields(Config):
        group = f.metadata["group"]
        if group not in groups:
            groups[group] = p.add_argument_group(f"{group} settings")
        kw = {"help": f.metadata["help"], "default": None, "type": _field_type(f)}
        if "choices" in f.metadata:
            kw["choices"] = list(f.metadata["choices"])
        flag = "--" + f.name.replace("_", "-")
        if f.name == "size":
            kw["metavar"] = "PX"
        groups[group].add_argument(flag, **kw)


def config_from_args(args: argparse.Namespace) -> Config:
    """The preset, then NST_MODEL / NST_WEIGHTS, then the flags given."""
    base = from_environment(preset(args.preset))
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Config)
        if getattr(args, f.name) is not None
    }
    if given.get("time_budget") == 0:
        given["time_budget"] = None
    if "style_strength" in given and "beta" not in given:
        given["beta"] = None  # a strength asked for is used, whatever β the preset has
    if given.get("time_budget") and "steps" not in given:
        given["steps"] = MAX_STEPS  # a budget alone means the time: the steps must not end it
    cfg = base.replace(**given).validated()
    if args.preset == "default" and "device" not in given:
        from nst.engine.config import for_device

        if not ({"size", "steps"} & set(given)):
            cfg = for_device(cfg, pick_device(cfg.device).type)
    return cfg


def deepest_layer(cfg: Config) -> str:
    order = [t.name for t in layer_table(cfg.model)]
    unknown = [n for n in cfg.layers_used if n not in order]
    if unknown:
        raise ValueError(
            f"{cfg.model} has no layer(s) {', '.join(unknown)}; layers are {order[0]} ... {order[-1]}"
        )
    return max(cfg.layers_used, key=order.index)


class _Progress:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, it: Iterate) -> None:
        if self.quiet:
            return
        r = it.record
        bar = "#" * int(24 * it.progress)
        rate = it.step / max(1e-9, r.seconds)
        sys.stderr.write(
            f"\r[{bar:<24}] {it.step} steps, {r.seconds:.0f} s, loss {r.total:.3g} "
            f"(content {r.content:.3g}, style {r.style:.3g}) {rate:.2f} it/s "
            f"{r.width}x{r.height} "
        )
        sys.stderr.flush()


def _check_output(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() != ".png":
        raise ValueError(f"output {path!r} must end in .png (the config is embedded in the PNG)")
    if not out.parent.exists():
        raise ValueError(f"output folder {out.parent} does not exist")
    return out


def _warn(text: str) -> None:
    print(f"nst: warning: {text}", file=sys.stderr)


def _open_store() -> Store:
    """The run store; opening it marks the runs of killed processes as interrupted."""
    store = Store()
    for notice in store.notices:
        print(f"nst: note: {notice}", file=sys.stderr)
    return store


def _store_or_say() -> Store | None:
    """The run store for a command that needs it, or None after one line saying why not."""
    try:
        return _open_store()
    except Exception as exc:  # noqa: BLE001 - any trouble opening it: one line, not a traceback
        where = default_home()
        print(f"nst: error: the run store in {where} could not be opened: {exc}", file=sys.stderr)
        return None


class _Recorder:
    """Keeps a run in the store as it goes: checkpoints when due, the last one at the end.
    Store trouble becomes a one-line warning and the run goes on unsaved, never a failed run."""

    def __init__(self, store: Store, run_id: int, config: Config, prior_events=(), new=True):
        self.store, self.id, self.config = store, run_id, config
        self.prior_events = list(prior_events)  # a resumed run's, before it was resumed
        self.new = new  # a resumed run keeps its stored changes (they are replayed, not new)
        self._said: str | None = None
        self._first = True

    @classmethod
    def start(cls, run: Run, device, content: str, styles: list[str]) -> _Recorder | None:
        try:
            store = _open_store()
            run_id = store.create_run(
                Path(samples.resolve(content)).read_bytes(),  # the files as given, stored once
                [Path(samples.resolve(s)).read_bytes() for s in styles],
                run.start_config,
                source="cli",
                owner="cli",
                content_name=content,
                style_names=styles,
                device=str(device),
                weights=run.weights_source,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the store's trouble, the run goes on
            _warn(f"the run is not stored ({exc}); it goes on")
            return None
        return cls(store, run_id, run.start_config)

    def tick(self, run: Run) -> None:
        """After a step: a checkpoint after the first, then whenever one is due (every few
        seconds), so a killed run can be resumed from early on."""
        if self._first or self.store.due(self.id):
            self._first = False
            self._save(run, "running")

    def finish(self, run: Run, status: str | None = None, message: str | None = None) -> None:
        self._save(run, status or run.status, message, final=True)

    def _save(self, run: Run, status: str, message: str | None = None, final: bool = False) -> None:
        state = {
            "history": run.history,
            "events": [*self.prior_events, *map(dataclasses.asdict, run.events)],
            "evals": run.evals,
            "seconds": run.seconds,
            "config": self.config,
            "changes": [{"step": s, "changes": c} for s, c in run.changes] if self.new else None,
            "message": message if message is not None else run.message,
        }
        try:
            if final:
                gif = gif_bytes([frame for _, frame in run.frames]) if len(run.frames) else None
                trouble = self.store.finish(self.id, status, run.image(), progress=gif, **state)
            else:
                ok = self.store.checkpoint(self.id, run.image(), status=status, **state)
                trouble = None if ok else self.store.stopped or "deleted"
        except Exception as exc:  # noqa: BLE001 - a store bug must not cost the user the run
            trouble = f"the run could not be stored ({exc}); it goes on unsaved"
        if trouble == "deleted":
            trouble = f"run {self.id} was deleted from the store; it goes on unsaved"
        if trouble and trouble != self._said:
            _warn(trouble)
        self._said = trouble


def _drive(run: Run, changes: list[tuple[int, dict]], after_step) -> None:
    """Step `run` to its end, taking on each of `changes` ((step, {field: value}), oldest first)
    when the run reaches its step, as a paused dashboard run would."""
    while True:
        due: dict = {}
        while changes and changes[0][0] <= run.evals:
            due.update(changes.pop(0)[1])
        if "style_strength" in due and "beta" not in due:
            due["beta"] = None  # a strength asked for is used, as on the command line's start
        if due:
            run.update(Config.from_dict({**run.config.to_dict(), **due}))
        if run.finished:
            return
        run.step(1)
        after_step()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["runs"]:
        return runs_main(argv[1:])
    if argv[:1] == ["sweep"]:
        return sweep_main(argv[1:])
    return stylize(argv)


def stylize(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg = config_from_args(args)
        out = _check_output(args.output)
        if args.metrics and not Path(args.metrics).resolve().parent.is_dir():
            raise ValueError(f"metrics folder {Path(args.metrics).parent} does not exist")
        deepest = deepest_layer(cfg)
        # Read as the dashboard reads an upload (at most 2048 px), so a run reproduced here from
        # the dashboard's command has the same pixels to start from.
        side = max(MAX_INPUT_SIDE, cfg.size)
        content = load_image(samples.resolve(args.content), max_side=side, name=args.content)
        styles = [load_image(samples.resolve(s), max_side=side, name=s) for s in args.styles]
        device = pick_device(cfg.device)
        if args.save_every < 0:
            raise ValueError("--save-every must be 0 or more")
        model = load_model(cfg.model, cfg.weights, device, last_layer=deepest)
        changes = [(step, {name: value}) for step, name, value in map(parse_change, args.change)]
        changes.sort(key=lambda c: c[0])
        run = Run(model, content, styles, cfg, callback=_Progress(args.quiet))
    except (UsageError, ImageInputError, WeightsError, ValueError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if model.is_random:
        print(
            "nst: warning: untrained (random) weights: the result is not real style transfer",
            file=sys.stderr,
        )
    recorder = None if args.no_store else _Recorder.start(run, device, args.content, args.styles)

    def write(path: Path) -> None:
        meta = {
            "weights": run.weights_source,
            "device": str(device),
            "evals": run.evals,
            "seconds": round(run.seconds, 3),
            "status": run.status,
            "beta": run.beta,  # the style weight the strength gave (or the exact β)
        }
        path.write_bytes(png_bytes(run.image(), run.start_config, meta, run.changes))

    def after_step() -> None:
        if args.save_every and run.evals % args.save_every == 0 and not run.finished:
            write(out.with_name(f"{out.stem}_{run.evals:04d}.png"))
        if recorder:
            recorder.tick(run)

    code = 0
    try:
        _drive(run, changes, after_step)
    except KeyboardInterrupt:
        run.stop()
        code = 130
    except ValueError as exc:  # a --change the run cannot take (a setting that needs a new run)
        print(f"nst: error: {exc}", file=sys.stderr)
        if recorder:
            recorder.finish(run, "failed", str(exc))
        return 2
    if not args.quiet:
        sys.stderr.write("\n")
    write(out)
    if recorder:
        recorder.finish(run)
    if run.status == "failed":
        print(f"nst: {run.message}", file=sys.stderr)
        code = 1
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(run.metrics(), indent=1))
    if not args.quiet:
        last = run.history[-1].total if run.history else float("nan")
        print(
            f"wrote {out} ({run.evals} steps, {run.seconds:.1f} s on {device}, "
            f"loss {last:.4g}, weights: {run.weights_source})",
            file=sys.stderr,
        )
        if recorder:
            print(f"run {recorder.id} stored; `python -m nst runs show {recorder.id}`", file=sys.stderr)
    return code


# ---- python -m nst runs ... --------------------------------------------------------------


def build_runs_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m nst runs",
        description="The runs kept in the run store: the command line's and the dashboard's "
        f"(NST_HOME, here {default_home()}).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
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
    delete = sub.add_parser("delete", help="delete a run and its files")
    delete.add_argument("id", type=int)
    return p


def runs_main(argv: list[str]) -> int:
    try:
        args = build_runs_parser().parse_args(argv)
    except UsageError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    store = _store_or_say()
    if store is None:
        return 1
    try:
        if args.command == "list":
            return _list_runs(store, args.json)
        if args.command == "resume":
            return _resume(store, args.id, args.quiet)
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
        "  reproduce  "
        + cli_command(start, s.content_name, list(s.style_names), f"run{s.id}.png", s.timeline()),
        "  config     " + start.to_json().replace("\n", "\n  "),
    ]
    print("\n".join(lines))
    return 0


def _export(stored: StoredRun, folder: Path) -> int:
    """DIR/<stem>.png (the config and changes embedded), .json, .csv, and .gif when stored."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    files = stored.export_files()
    written = []
    for ext, data in ((e, files[e]) for e in ("png", "json", "csv", "gif")):
        if data is None:
            continue
        written.append(folder / f"{files['stem']}.{ext}")
        if isinstance(data, str):
            written[-1].write_text(data)
        else:
            written[-1].write_bytes(data)
    s = stored
    print("\n".join(map(str, written)))
    if s.thumbnail is None:
        _warn(f"run {s.id} has no image yet (no checkpoint was written)")
    return 0


def _resume(store: Store, run_id: int, quiet: bool) -> int:
    """Finish a stored run from its last checkpoint image, into the same stored run."""
    s = store.get_run(run_id, None)
    if s.status in LIVE:
        raise UsageError(f"run {run_id} is {s.status} in another process; stop it there first")
    if s.status == "done":
        raise UsageError(f"run {run_id} is done: nothing to resume")
    checkpoint = s.thumbnail if s.thumbnail is not None and s.thumbnail.is_file() else None
    done = s.evals if checkpoint else 0
    seconds = s.seconds if checkpoint else 0.0
    start, timeline = Config.from_dict(s.config), s.timeline()
    cfg = s.config_at(done)
    if done >= cfg.steps or (cfg.time_budget and seconds >= cfg.time_budget):
        raise UsageError(f"run {run_id} has no steps left to run ({done} of {cfg.steps} done)")
    if cfg.scale_count > 1:  # a checkpoint holds one image: the rest runs at the full size
        cfg = cfg.replace(scales=1)
    device = pick_device(cfg.device)
    model = load_model(cfg.model, cfg.weights, device, last_layer=deepest_layer(cfg))
    side = max(MAX_INPUT_SIDE, cfg.size)  # read as the run read them
    content = load_image(store.image_path(s.content), max_side=side, name=s.content_name)
    styles = [
        load_image(store.image_path(h), max_side=side, name=name)
        for name, h in zip(s.style_names, s.styles, strict=False)
    ]
    run = Run(model, content, styles, cfg, callback=_Progress(quiet))
    lost = "curvature memory is" if cfg.optimizer == "lbfgs" else "moment estimates are"
    if checkpoint:
        with Image.open(checkpoint) as im:
            run.start_from(im, done, seconds)
        said = (
            f"resumed run {run_id} from its last checkpoint at step {done}; "
            f"the optimizer restarts (its {lost} lost)"
        )
    else:
        said = f"run {run_id} had no checkpoint: it starts over"
    event = Event(done, said.replace(f"run {run_id} ", "", 1))
    recorder = _Recorder(store, run_id, start, [*s.events, dataclasses.asdict(event)], new=False)
    print(f"nst: {said}", file=sys.stderr)
    if model.is_random:
        _warn("untrained (random) weights: the result is not real style transfer")
    code = 0
    try:
        _drive(run, [c for c in timeline if c[0] > done], lambda: recorder.tick(run))
    except KeyboardInterrupt:
        run.stop()
        code = 130
    except ValueError as exc:  # a stored change this run cannot take
        recorder.finish(run, "failed", str(exc))
        raise
    if not quiet:
        sys.stderr.write("\n")
    recorder.finish(run)
    if run.status == "failed":
        print(f"nst: {run.message}", file=sys.stderr)
        code = code or 1
    print(
        f"run {run_id} {run.status}: {run.evals} steps, {run.seconds:.1f} s on {device}; "
        f"`python -m nst runs export {run_id} -o DIR`",
        file=sys.stderr,
    )
    return code


# ---- python -m nst sweep ... -------------------------------------------------------------


def build_sweep_parser() -> argparse.ArgumentParser:
    from nst.lab.sweep import MAX_CELLS

    p = _Parser(
        prog="python -m nst sweep",
        # the photos and paintings first: --vary takes the words after it (style_strength=0..6 lin 7)
        usage="%(prog)s CONTENT STYLE [STYLE ...] -o DIR [--vary FIELD=VALUES ...] [--yes] "
        "[--quiet] [settings]",
        description="The same stylization over photos x paintings x a grid of settings: "
        "DIR/sheet.png (the grid, labelled), DIR/results.csv (a row per cell: the varied values, "
        "the seed loss of the written image and its content and style terms, seconds, steps, "
        "file) and DIR/cells/*.png (config embedded). Cells are kept in the run store: a rerun "
        "computes only the cells not computed before, so a stopped sweep resumes.",
        epilog="VALUES: a list (pooling=max,avg; content_layer=conv2_2,conv4_2), a range "
        "(style_strength=0..6 lin 7; size=128..512 lin 4), or one style layer's weight "
        "(w:conv4_1=0,0.5,1). The last --vary runs across the sheet; the others and several "
        "photos or paintings run down; with no --vary, paintings across and photos down.",
    )
    p.add_argument("content", help="the photo: an image file, a sample name, or a folder of photos")
    p.add_argument("styles", nargs="+", metavar="style", help="painting(s): files, samples or folders")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write to")
    p.add_argument(
        "--vary",
        action="append",
        nargs="+",
        default=[],
        metavar="FIELD=VALUES",
        help="a setting to vary (repeatable); see below",
    )
    p.add_argument("--yes", action="store_true", help=f"run a grid of more than {MAX_CELLS} cells")
    p.add_argument("--quiet", action="store_true", help="no line per cell")
    p.add_argument(
        "--backend",
        choices=("local", "ray"),
        default=None,
        help="where the cells compute: local (this process, one after another) or ray (a Ray "
        "cluster at NST_RAY_ADDRESS, else one started on this machine for the command); "
        "default: ray when NST_RAY_ADDRESS is set, else local",
    )
    _add_config_flags(p)
    return p


def sweep_main(argv: list[str]) -> int:
    from nst.compute import backend
    from nst.compute.cluster import ClusterError
    from nst.lab import sweep as sw

    try:
        args = build_sweep_parser().parse_args(argv)
        cfg = config_from_args(args)
        axes = []
        for words in args.vary:
            text = " ".join(words)
            try:
                axes.append(sw.parse_vary(text))
            except ValueError as exc:
                raise ValueError(f"--vary {text}: {exc}") from None
        out = Path(args.output)
        if out.exists() and not out.is_dir():
            raise ValueError(f"{out} is not a folder")
        contents = sw.read_inputs(args.content)
        styles = [s for name in args.styles for s in sw.read_inputs(name)]
        plan = sw.Sweep(contents, styles, cfg, axes, limit=None if args.yes else sw.MAX_CELLS)
        model = sw.LocalExecutor().model_for(cfg)  # for the estimate, and local cells
    except (UsageError, ImageInputError, WeightsError, ValueError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    try:
        executor = backend.executor(args.backend, model)
    except ClusterError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if model.is_random:
        _warn("untrained (random) weights: the results are not real style transfer")
    store = _store_or_say()
    if store is None:
        return 1
    t0 = time.perf_counter()
    pace = sw.measure_pace(plan, model) if plan.todo(store) else sw.Pace(0.0, 0.0)
    estimate = plan.estimate(pace, store, sw.device_name(model.mean.device))
    print(f"sweep: {estimate}", file=sys.stderr)
    if executor.slots > 1 or executor.where != sw.LocalExecutor.where:
        at_once = f"{executor.slots} cell(s) at once"
        print(f"sweep: computing on {executor.where}, {at_once}", file=sys.stderr)
    results: list = []

    def said(result) -> None:
        results.append(result)
        if not args.quiet:
            how = "stored before" if result.reused else f"{result.seconds:.1f} s"
            label = result.spec.label.replace("\n", ", ") or "cell"
            print(
                f"[{len(results)}/{len(plan)}] {label}: seed loss {sw.fmt(result.seed_loss)} ({how})",
                file=sys.stderr,
            )

    t1, code = time.perf_counter(), 0
    try:
        plan.run(store, executor, on_result=said, owner="cli")
    except KeyboardInterrupt:
        code = 130
    except ClusterError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        code = 1
    outputs = sw.write_outputs(plan, results, out)
    print(sw.format_table(plan, results))
    computed, t2 = sum(not r.reused for r in results), time.perf_counter()
    print(
        f"wrote {outputs.sheet}, {outputs.csv} and {len(outputs.cells)} cells in {out / 'cells'}: "
        f"{computed} computed in {t2 - t1:.1f} s ({t2 - t0:.1f} s with the estimate), "
        f"{len(results) - computed} stored before",
        file=sys.stderr,
    )
    if code in (1, 130) and len(results) < len(plan):
        _warn(f"stopped after {len(results)} of {len(plan)} cells; run the same command to go on")
    if code != 130 and (failed := [r for r in results if r.status != "done"]):
        print(f"nst: {len(failed)} cell(s) failed: {failed[0].message}", file=sys.stderr)
        code = 1
    store.close()
    return code
