"""What every `python -m nst` command shares: flags generated from Config, one-line errors, the
progress bar, the run store, and the driver that steps a run to its end taking its changes on."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import types
import typing
from pathlib import Path

from tqdm import tqdm

from nst import samples
from nst.engine.config import MAX_STEPS, STRENGTH_RANGE, Config, from_environment, parse_style_weights
from nst.engine.contract import Change
from nst.engine.model import layer_table, pick_device
from nst.engine.presets import PRESETS, preset
from nst.engine.regions import FEATHER, Region, colour_hex, from_label_image
from nst.engine.run import Iterate, Run
from nst.record.recorded import RecordedRun
from nst.record.store import Store, default_home


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:  # one line, no usage dump
        raise UsageError(message)


def as_argtype(fn, name: str):
    def parse(text: str):
        try:
            return fn(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name
    return parse


def parse_blend(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"blend weights {text!r} must be numbers separated by commas") from None


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
    convert = field_type(fields[name])
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


def field_type(f: dataclasses.Field):
    if f.name == "style_weights":
        return as_argtype(parse_style_weights, "style weights")
    if f.name == "style_blend":
        return as_argtype(parse_blend, "blend weights")
    hint = typing.get_type_hints(Config)[f.name]
    if isinstance(hint, types.UnionType):  # float | None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def add_config_flags(p: argparse.ArgumentParser) -> None:
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
        kw = {"help": f.metadata["help"], "default": None, "type": field_type(f)}
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
        from nst.engine.presets import for_device

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


class Progress:
    """The run's progress on stderr: a bar (tqdm) on a terminal; in a log or a pipe, one line at
    each tenth of the way, with no carriage returns."""

    def __init__(self, quiet: bool, stream=None):
        self.quiet, self.stream = quiet, stream or sys.stderr
        self.bar: tqdm | None = None
        self.tenth = -1

    def __call__(self, it: Iterate) -> None:
        if self.quiet:
            return
        r = it.record
        facts = (
            f"loss {r.total:.3g} (content {r.content:.3g}, style {r.style:.3g}), {r.width}x{r.height}"
        )
        if self.stream.isatty():
            if self.bar is None:
                form = "{percentage:3.0f}%|{bar:24}| {elapsed}<{remaining}{postfix}"
                size = shutil.get_terminal_size((100, 24))  # a terminal of no size: 100 x 24
                self.bar = tqdm(
                    total=1000, file=self.stream, bar_format=form, ncols=size.columns, nrows=size.lines
                )
            self.bar.n = round(1000 * it.progress)
            self.bar.set_postfix_str(f"{it.step} steps, {facts}")
        elif int(10 * it.progress) > self.tenth:
            self.tenth = int(10 * it.progress)
            self.stream.write(f"nst: {it.step} steps ({it.progress:.0%}), {r.seconds:.0f} s, {facts}\n")
            self.stream.flush()

    def close(self) -> None:
        """End the bar's line (a log's lines are whole already)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def warn(text: str) -> None:
    print(f"nst: warning: {text}", file=sys.stderr)


def open_store() -> Store:
    """The run store; opening it marks the runs of killed processes as interrupted."""
    store = Store()
    for notice in store.notices:
        print(f"nst: note: {notice}", file=sys.stderr)
    return store


def store_or_say() -> Store | None:
    """The run store for a command that needs it, or None after one line saying why not."""
    try:
        return open_store()
    except Exception as exc:  # noqa: BLE001 - any trouble opening it: one line, not a traceback
        where = default_home()
        print(f"nst: error: the run store in {where} could not be opened: {exc}", file=sys.stderr)
        return None


class RunKeeper:
    """The command line's stored run (nst.record.recorded): a checkpoint after the first step,
    then whenever one is due; the store's trouble as one warning line (again only when it
    changes), never a failed run."""

    def __init__(self, recorded: RecordedRun):
        self.recorded, self.id = recorded, recorded.id
        self._first = True
        self._said: str | None = None

    @classmethod
    def begin(cls, run: Run, content: str, styles: list[str]) -> RunKeeper | None:
        try:
            recorded = RecordedRun.begin(
                open_store(),
                run,
                Path(samples.resolve(content)).read_bytes(),  # the files as given, stored once
                [Path(samples.resolve(s)).read_bytes() for s in styles],
                content_name=content,
                style_names=styles,
                source="cli",
                owner="cli",
            )
        except Exception as exc:  # noqa: BLE001 - whatever the store's trouble, the run goes on
            warn(f"the run is not stored ({exc}); it goes on")
            return None
        return cls(recorded)

    def tick(self, run: Run) -> None:
        if self._first or self.recorded.due():
            self._first = False
            self._say(self.recorded.save(run))

    def finish(self, run: Run, failed: str | None = None) -> None:
        """The end: as the run ended, or as failed with the reason `failed`."""
        self._say(self.recorded.fail(run, failed) if failed else self.recorded.save(run))

    def _say(self, trouble: str | None) -> None:
        if trouble and trouble != self._said:
            warn(trouble)
        self._said = trouble


def drive(run: Run, changes: list[Change], after_step) -> None:
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


def add_region_flags(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    """--region-map, --region and --feather: a style per region (nst.engine.regions)."""
    takes = (
        "the cell's painting (1) at a strength, or 'keep' for the photo"
        if sweep
        else "a painting (a style given, its number from 1, or another image) at a strength, "
        "or 'keep' for the photo"
    )
    p.add_argument(
        "--region-map",
        metavar="IMAGE",
        help="a style per region: an image painted in one colour per region (any size: it is "
        "resized to the photo's); the other colours are the rest, which takes the styles given",
    )
    p.add_argument(
        "--region",
        action="append",
        default=[],
        metavar="COLOUR=PAINTING[:STRENGTH]",
        help=f"what a colour of --region-map takes: {takes} (repeatable, at most 8)",
    )
    p.add_argument("--feather", type=int, default=FEATHER, metavar="PX", help="region borders' width")


def regions_from_args(args, cfg: Config, size, names: list[str], paintings: int, load=None):
    """--region-map and --region as the config's regions, for a photo of `size` and the
    paintings `names` (`paintings` of them). A painting not among them is loaded with `load`
    (None: not allowed, as in a sweep) and added, with no weight in the blend of the rest.
    Returns (config, the added paintings, all paintings' names, a note for the user or "")."""
    if not args.region_map and not args.region:
        return cfg, [], names, ""
    if not (args.region_map and args.region):
        raise ValueError("--region-map and --region go together: the map and what each colour takes")
    names, added, regions = list(names), [], []
    for text in args.region:
        colour, _, what = text.partition("=")
        if not what:
            raise ValueError(f"--region {text!r}: write COLOUR=PAINTING[:STRENGTH] or COLOUR=keep")
        name, _, strength = what.rpartition(":") if ":" in what else (what, "", "")
        try:
            value = float(strength) if strength else None
        except ValueError:
            raise ValueError(f"--region {text!r}: the strength must be a number") from None
        low, high = STRENGTH_RANGE
        if value is not None and not low <= value <= high:
            raise ValueError(f"--region {text!r}: the strength goes from {low:g} to {high:g}")
        if value is not None and cfg.beta is not None:
            raise ValueError(
                f"--region {text!r}: a region's strength needs the style strength, not --beta"
            )
        if name == "keep":
            regions.append(Region(colour_hex(colour), None))
            continue
        stems = [Path(n).stem for n in names]
        if name.isdigit() and 1 <= int(name) <= paintings:
            index = int(name) - 1
        elif name in names[:paintings] or name in stems[:paintings]:
            index = next(i for i in range(paintings) if name in (names[i], stems[i]))
        elif load is None:
            raise ValueError(
                f"--region {text!r}: in a sweep a region takes 1 (the cell's painting) or keep"
            )
        else:
            added.append(load(name))
            names.append(name)
            index = paintings + len(added) - 1
        regions.append(Region(colour_hex(colour), index, value))
    label_image = read_region_map(args.region_map)
    region_map, note = from_label_image(label_image, regions, size, args.feather)
    blend = tuple(cfg.style_blend or (1.0,) * paintings) + (0.0,) * len(added)
    text = region_map.checked(paintings + len(added)).to_text()
    return (
        cfg.replace(regions=text, style_blend=blend if added else cfg.style_blend),
        added,
        names,
        note,
    )


def read_region_map(path: str):
    """A label image as painted (any size, even tiny), or a ValueError in one sentence."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise ValueError(f"--region-map {path}: no such file") from None
    except (UnidentifiedImageError, OSError):
        raise ValueError(f"--region-map {path}: not an image this can read") from None
