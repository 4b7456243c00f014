"""`python -m nst CONTENT STYLE [STYLE ...] -o OUT.png`: one stylization, kept in the run store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nst import samples
from nst.cli.common import (
    Parser,
    Progress,
    Recorder,
    UsageError,
    add_config_flags,
    config_from_args,
    deepest_layer,
    drive,
    parse_change,
)
from nst.engine.contract import Change
from nst.engine import memory
from nst.engine.image import MAX_INPUT_SIDE, ImageInputError, load_image, resize_long_side
from nst.engine.model import WeightsError, fast_bf16, load_model, pick_device
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
        "--dpi",
        type=int,
        help="print resolution written into the file (with the sRGB profile); .tif: 300 unless given",
    )
    p.add_argument(
        "--max-memory",
        type=float,
        metavar="GB",
        help="the most memory the run may take (default: what is free, less 15%%); beyond what "
        "fits at once, the largest scales go tile by tile",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="say the size, tiles and peak memory the run would take, and stop",
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
    add_config_flags(p)
    return p


def _check_output(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() not in (".png", ".tif", ".tiff"):
        raise ValueError(f"output {path!r} must end in .png or .tif (the config is embedded)")
    if not out.parent.exists():
        raise ValueError(f"output folder {out.parent} does not exist")
    return out


def stylize(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        cfg = config_from_args(args)
        out = _check_output(args.output)
        if args.metrics and not Path(args.metrics).resolve().parent.is_dir():
            raise ValueError(f"metrics folder {Path(args.metrics).parent} does not exist")
        deepest = deepest_layer(cfg)
        # Read as the dashboard reads an upload (at most MAX_INPUT_SIDE), so a run reproduced
        # here from the dashboard's command has the same pixels to start from.
        side = max(MAX_INPUT_SIDE, cfg.size)
        content = load_image(samples.resolve(args.content), max_side=side, name=args.content)
        styles = [load_image(samples.resolve(s), max_side=side, name=s) for s in args.styles]
        device = pick_device(cfg.device)
        if args.save_every < 0:
            raise ValueError("--save-every must be 0 or more")
        if args.dpi is not None and not 1 <= args.dpi <= 10000:
            raise ValueError("--dpi must be between 1 and 10000")
        if args.max_memory is not None and args.max_memory <= 0:
            raise ValueError("--max-memory must be a positive number of GB")
        w, h = resize_long_side(content, cfg.size, args.content).size
        bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and fast_bf16(device))
        limit = int(args.max_memory * 2**30) if args.max_memory else memory.default_limit()
        plan = memory.plan(w, h, "bf16" if bf16 else "fp32", cfg.history, limit)
        if args.plan or (not args.quiet and (plan.tiles > 1 or plan.history < cfg.history)):
            fewer = f"; L-BFGS history {plan.history} (of {cfg.history})" if plan.history < cfg.history else ""
            print(f"nst: plan: {plan.describe()} (limit {limit / 2**30:.1f} GB){fewer}", file=sys.stderr)
        if args.plan:
            return 0
        if plan.history < cfg.history:
            cfg = cfg.replace(history=plan.history)
        model = load_model(cfg.model, cfg.weights, device, last_layer=deepest)
        changes = [Change(step, {name: value}) for step, name, value in map(parse_change, args.change)]
        changes.sort(key=lambda c: c.step)
        run = Run(
            model, content, styles, cfg, callback=Progress(args.quiet), tile_pixels=plan.tile_pixels or w * h
        )
    except (UsageError, ImageInputError, WeightsError, ValueError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if model.is_random:
        print(
            "nst: warning: untrained (random) weights: the result is not real style transfer",
            file=sys.stderr,
        )
    recorder = None if args.no_store else Recorder.begin(run, args.content, args.styles)

    def write(path: Path) -> None:
        facts = trace.of_run(run, args.content, args.styles, recorder.id if recorder else None)
        if path.suffix.lower() == ".png" and args.dpi is None:
            path.write_bytes(trace.png_of(facts, run.image()))
        else:  # a print: the dpi and the sRGB profile, 16 bits in a TIFF
            dpi = args.dpi or 300
            path.write_bytes(trace.print_of(facts, run, path, dpi))

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
    if not args.quiet:
        sys.stderr.write("\n")
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
