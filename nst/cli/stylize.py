"""`python -m nst CONTENT STYLE [STYLE ...] -o OUT.png`: one stylization, kept in the run store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nst import samples
from nst.cli import prints
from nst.cli.common import (
    Parser,
    Progress,
    RunKeeper,
    UsageError,
    add_config_flags,
    add_region_flags,
    config_from_args,
    deepest_layer,
    drive,
    parse_change,
    regions_from_args,
)
from nst.cli.prints import (
    add_print_flags,
    apply_print_size,
    check_output,
    plan_for,
    say_time,
    tile_pixels,
)
from nst.engine.contract import Change
from nst.engine.image import MAX_INPUT_SIDE, ImageInputError, load_image, resize_long_side
from nst.engine.model import WeightsError, load_model, pick_device
from nst.engine.run import Run
from nst.record import trace


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
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
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output .png (8-bit) or .tif (16-bit, for prints); the config is embedded",
    )
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
    add_region_flags(p)
    add_config_flags(p)
    add_print_flags(p)
    return p


def stylize(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg = config_from_args(args)
        out = check_output(args.output)
        if args.metrics and not Path(args.metrics).resolve().parent.is_dir():
            raise ValueError(f"metrics folder {Path(args.metrics).parent} does not exist")
        deepest = deepest_layer(cfg)
        # Read as the dashboard reads an upload (at most MAX_INPUT_SIDE), so a run reproduced
        # here from the dashboard's command has the same pixels to start from.
        side = max(MAX_INPUT_SIDE, cfg.size)
        content = load_image(samples.resolve(args.content), max_side=side, name=args.content)
        styles = [load_image(samples.resolve(s), max_side=side, name=s) for s in args.styles]
        side = max(MAX_INPUT_SIDE, cfg.size)
        cfg, extra, names, note = regions_from_args(
            args,
            cfg,
            content.size,
            list(args.styles),
            len(styles),
            lambda name: load_image(samples.resolve(name), max_side=side, name=name),
        )
        styles += extra
        if note:
            print(f"nst: note: {note}", file=sys.stderr)
        cfg = apply_print_size(args, cfg, max(content.size) / min(content.size))
        device = pick_device(cfg.device)
        if args.save_every < 0:
            raise ValueError("--save-every must be 0 or more")
        cfg, plan = plan_for(args, cfg, resize_long_side(content, cfg.size, args.content).size, device)
        model = load_model(cfg.model, cfg.weights, device, last_layer=deepest)
        if args.plan:
            say_time(model, cfg, content.size, plan)
            return 0
        changes = [Change(step, {name: value}) for step, name, value in map(parse_change, args.change)]
        changes.sort(key=lambda c: c.step)
        progress = Progress(args.quiet)
        run = Run(model, content, styles, cfg, callback=progress, tile_pixels=tile_pixels(plan))
    except (UsageError, ImageInputError, WeightsError, ValueError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if model.is_random:
        print(
            "nst: warning: untrained (random) weights: the result is not real style transfer",
            file=sys.stderr,
        )
    recorder = None if args.no_store else RunKeeper.begin(run, args.content, names)

    def write(path: Path) -> None:
        facts = trace.of_run(run, args.content, names, recorder.id if recorder else None)
        prints.write(path, run, facts, args.dpi)

    def after_step() -> None:
        if args.save_every and run.evals % args.save_every == 0 and not run.finished:
            write(out.with_name(f"{out.stem}_{run.evals:04d}.png"))
        if recorder:
            recorder.tick(run)

    code = 0
    try:
        drive(run, changes, after_step)
    except KeyboardInterrupt:
        run.stop()
        code = 130
    except ValueError as exc:  # a --change the run cannot take (a setting that needs a new run)
        print(f"nst: error: {exc}", file=sys.stderr)
        if recorder:
            recorder.finish(run, failed=str(exc))
        return 2
    progress.close()
    write(out)
    if recorder:
        recorder.finish(run)
    if run.status == "failed":
        print(f"nst: {run.message}", file=sys.stderr)
        code = 1
    if args.metrics:
        Path(args.metrics).write_text(json.dumps(trace.metrics(run), indent=1))
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
