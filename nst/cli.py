"""Command line: `python -m nst CONTENT STYLE [STYLE ...] -o OUT.png`.

The flags are generated from `nst.config.Config`, so their defaults and help are the dashboard's.
Exit codes: 0 done; 1 the run failed (diverged, out of memory; the last good image is still
written); 2 bad input or usage, with one line on stderr; 130 interrupted (image written).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import types
import typing
from pathlib import Path

from nst import samples
from nst.config import MAX_STEPS, PRESETS, Config, from_environment, parse_style_weights, preset
from nst.export import png_bytes
from nst.image import ImageInputError, load_image
from nst.model import WeightsError, layer_table, load_model, pick_device
from nst.run import Iterate, Run


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


def parse_change(text: str) -> tuple[int, str, object]:
    """'STEP:FIELD=VALUE' -> (step, field, value), the value parsed as its flag would be."""
    step, sep, rest = text.partition(":")
    name, eq, value = rest.partition("=")
    name = name.strip().replace("-", "_")
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if not (sep and eq and step.strip().isdigit()):
        raise ValueError(f"--change {text!r}: write STEP:FIELD=VALUE, e.g. 8:beta=1e6")
    if name not in fields:
        raise ValueError(f"--change {text!r}: no setting named {name!r}")
    convert = _field_type(fields[name])
    try:
        parsed = None if name == "time_budget" and float(value) == 0 else convert(value)
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
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="default",
        help="starting settings; other flags override them",
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
    return p


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
    if given.get("time_budget") and "steps" not in given:
        given["steps"] = MAX_STEPS  # a budget alone means the time: the steps must not end it
    cfg = base.replace(**given).validated()
    if args.preset == "default" and "device" not in given:
        from nst.config import for_device

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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg = config_from_args(args)
        out = _check_output(args.output)
        if args.metrics and not Path(args.metrics).resolve().parent.is_dir():
            raise ValueError(f"metrics folder {Path(args.metrics).parent} does not exist")
        deepest = deepest_layer(cfg)
        content = load_image(samples.resolve(args.content), max_side=4 * cfg.size, name=args.content)
        styles = [load_image(samples.resolve(s), max_side=4 * cfg.size, name=s) for s in args.styles]
        device = pick_device(cfg.device)
        if args.save_every < 0:
            raise ValueError("--save-every must be 0 or more")
        model = load_model(cfg.model, cfg.weights, device, last_layer=deepest)
        changes = sorted((parse_change(c) for c in args.change), key=lambda c: c[0])
        run = Run(model, content, styles, cfg, callback=_Progress(args.quiet))
    except (UsageError, ImageInputError, WeightsError, ValueError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if model.is_random:
        print(
            "nst: warning: untrained (random) weights: the result is not real style transfer",
            file=sys.stderr,
        )

    def write(path: Path) -> None:
        meta = {
            "weights": run.weights_source,
            "device": str(device),
            "evals": run.evals,
            "seconds": round(run.seconds, 3),
            "status": run.status,
        }
        path.write_bytes(png_bytes(run.image(), run.start_config, meta, run.changes))

    code = 0
    try:
        while True:
            due = {}
            while changes and changes[0][0] <= run.evals:
                _, name, value = changes.pop(0)
                due[name] = value
            if due:
                run.update(run.config.replace(**due))
            if run.finished:
                break
            run.step(1)
            if args.save_every and run.evals % args.save_every == 0 and not run.finished:
                write(out.with_name(f"{out.stem}_{run.evals:04d}.png"))
    except KeyboardInterrupt:
        run.stop()
        code = 130
    except ValueError as exc:  # a --change the run cannot take (a setting that needs a new run)
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        sys.stderr.write("\n")
    write(out)
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
    return code
