"""The command line's print pieces: the memory plan before a run, the print file after it, and
`python -m nst runs print ID --size 4096 -o print.tif` (a print made from a stored run)."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from nst.engine import memory
from nst.engine.config import Config
from nst.engine.model import fast_bf16
from nst.engine.records import Event
from nst.engine.run import Run
from nst.record import trace

OUTPUTS = (".png", ".tif", ".tiff")


def add_print_flags(p: argparse.ArgumentParser) -> None:
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
        "--print-size",
        metavar="WxH{cm,in}",
        help="the print's size on paper, e.g. 30x20cm or 12x8in: with --dpi (300 by default) it "
        "gives --size (the long side in px)",
    )
    p.add_argument(
        "--plan",
        action="store_true",
        help="say the size, tiles and peak memory the run would take, and stop",
    )


PER_INCH = {"cm": 2.54, "mm": 25.4, "in": 1.0}
DECIMALS = {"cm": 1, "mm": 0, "in": 2}  # how finely a size on paper is said


def _paper(text: str) -> tuple[float, float, str]:
    """("30x20cm") -> (30.0, 20.0, "cm"): a size on paper as written, width x height."""
    t = text.strip().lower().replace(" ", "")
    unit = next((u for u in PER_INCH if t.endswith(u)), None)
    try:
        if unit is None:
            raise ValueError
        w, h = (float(v) for v in t[: -len(unit)].split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(
            f"--print-size {text!r}: write it as WxH with cm, mm or in, e.g. 30x20cm"
        ) from None
    return w, h, unit


def print_pixels(text: str, dpi: int, aspect: float | None = None) -> int:
    """The long side in px of a print on paper of `text` ("30x20cm", "12x8in") at `dpi`: with
    `aspect` (the image's long side over its short one), the largest that fits the paper."""
    w, h, unit = _paper(text)
    long_, short = max(w, h) / PER_INCH[unit], min(w, h) / PER_INCH[unit]
    if aspect is not None:
        long_ = min(long_, short * aspect)  # an image more square than the paper: its height
    return round(long_ * dpi)


@dataclass(frozen=True)
class PrintFit:
    """An image printed on paper: its pixels and the paper, both width x height, the paper
    turned as the image is (a portrait photo on 30x20 cm paper prints on 20x30 cm)."""

    width: int  # px
    height: int
    paper: tuple[float, float]  # in `unit`
    unit: str
    dpi: int

    @property
    def long_side(self) -> int:
        return max(self.width, self.height)

    def label(self) -> str:
        """The pixels, the size they print at, and the paper where the image's aspect leaves part
        of it blank: "443x559 px (7.5x9.5 cm at 150 dpi, on 7.5x10 cm paper)"."""
        per, d = PER_INCH[self.unit], DECIMALS[self.unit]

        def size(w: float, h: float) -> str:
            return f"{w:.{d}f}".rstrip("0").rstrip(".") + "x" + f"{h:.{d}f}".rstrip("0").rstrip(".")

        printed = size(self.width / self.dpi * per, self.height / self.dpi * per)
        paper = size(*self.paper)
        on = "" if printed == paper else f", on {paper} {self.unit} paper"
        return f"{self.width}x{self.height} px ({printed} {self.unit} at {self.dpi} dpi{on})"


def print_fit(text: str, dpi: int, image_size: tuple[int, int]) -> PrintFit:
    """The largest print of an image of `image_size` (width, height) px on paper of `text`
    ("30x20cm") at `dpi`: the paper turned to the image's orientation, the image's aspect kept."""
    w0, h0 = image_size
    pw, ph, unit = _paper(text)
    long_ = print_pixels(text, dpi, max(w0, h0) / min(w0, h0))
    if w0 >= h0:
        return PrintFit(long_, round(long_ * h0 / w0), (max(pw, ph), min(pw, ph)), unit, dpi)
    return PrintFit(round(long_ * w0 / h0), long_, (min(pw, ph), max(pw, ph)), unit, dpi)


def apply_print_size(args, cfg: Config, aspect: float | None = None) -> Config:
    """--print-size and --dpi as the pixel size they give (said on stderr); `aspect`: the
    photo's, so the print fits the paper."""
    if not getattr(args, "print_size", None):
        return cfg
    dpi = args.dpi or 300
    px = print_pixels(args.print_size, dpi, aspect)
    if not 32 <= px <= 8192:
        raise ValueError(
            f"{args.print_size} at {dpi} dpi is {px} px on the long side; the most is 8192"
        )
    print(f"nst: {args.print_size} at {dpi} dpi: {px} px on the long side", file=sys.stderr)
    return cfg.replace(size=px)


def check_output(path: str) -> Path:
    out = Path(path)
    if out.suffix.lower() not in OUTPUTS:
        raise ValueError(f"output {path!r} must end in .png or .tif (the config is embedded)")
    if not out.parent.exists():
        raise ValueError(f"output folder {out.parent} does not exist")
    return out


def plan_for(args, cfg: Config, size: tuple[int, int], device) -> tuple[Config, memory.Plan]:
    """The memory plan of a run of `size` px, said on stderr when it tiles, lowers the history or
    was asked for (`--plan`); raises MemoryPlanError (a ValueError) when it cannot fit."""
    if args.dpi is not None and not 1 <= args.dpi <= 10000:
        raise ValueError("--dpi must be between 1 and 10000")
    if args.max_memory is not None and args.max_memory <= 0:
        raise ValueError("--max-memory must be a positive number of GB")
    w, h = size
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and fast_bf16(device))
    limit = int(args.max_memory * 2**30) if args.max_memory else memory.default_limit()
    plan = memory.plan(w, h, "bf16" if bf16 else "fp32", cfg.history, limit)
    fewer = plan.history < cfg.history
    if args.plan or (not getattr(args, "quiet", False) and (plan.tiles > 1 or fewer)):
        more = f"; L-BFGS history {plan.history} (of {cfg.history})" if fewer else ""
        print(f"nst: plan: {plan.describe()} (limit {limit / 2**30:.1f} GB){more}", file=sys.stderr)
    return (cfg.replace(history=plan.history) if fewer else cfg), plan


def say_time(model, cfg: Config, content_size: tuple[int, int], plan: memory.Plan) -> None:
    """How long the run will take here (this machine's measured pace; a tiled scale computes its
    Grams in a first pass and its crops' margins too)."""
    from nst.lab.estimate import measure, run_seconds

    if cfg.time_budget:
        print(f"nst: plan: {cfg.time_budget:.0f} s of optimization (the time budget)", file=sys.stderr)
        return
    seconds = run_seconds(measure(model, cfg), cfg, content_size, model.arch)
    if plan.tiles > 1:
        seconds *= 1.35 * plan.tiles * plan.tile_pixels / (plan.width * plan.height)
    print(f"nst: plan: about {seconds:.0f} s of optimization here", file=sys.stderr)


def tile_pixels(plan: memory.Plan) -> int:
    """What Run takes: crops of the plan's size, or the whole image in one pass."""
    return plan.tile_pixels or plan.width * plan.height


def write(path: Path, run: Run, facts: dict, dpi: int | None) -> None:
    """The run's image as the user asked: a PNG as always, or a print (dpi, sRGB profile; a TIFF
    in 16 bits)."""
    if path.suffix.lower() == ".png" and dpi is None:
        path.write_bytes(trace.png_of(facts, run.image()))
    else:
        path.write_bytes(trace.print_of(facts, run, path, dpi or 300))


def print_config(source: Config, size: int, steps: int | None, time_budget: float | None) -> Config:
    """A print's settings: the run's own (as it ended) at `size`, going coarse to fine from
    about the run's size, a scale per doubling (at most 5)."""
    doublings = max(0, round(math.log2(size / source.size)))
    return source.replace(
        size=size,
        scales=min(5, doublings + 1),
        steps=steps or source.steps,
        time_budget=time_budget,
    ).validated()


def begin_print(
    model, content, styles, cfg: Config, start, plan: memory.Plan, note: str, callback=None
) -> Run:
    """The print's Run: from `start` (the run's image, at about its own size), tiles as `plan`
    says, and its source named as its first event (`note`). The command line's and the
    dashboard's alike."""
    run = Run(model, content, styles, cfg, callback=callback, tile_pixels=tile_pixels(plan))
    run.start_from(start)  # at the schedule's first scale: about the run's own size
    run.events.append(Event(0, note))
    return run


def add_print_command(sub) -> None:
    p = sub.add_parser(
        "print",
        help="a print of a stored run: its image, settings and changes, continued at a print size",
    )
    p.add_argument("id", type=int)
    p.add_argument("--size", type=int, help="long side of the print in px (to 8192); or --print-size")
    p.add_argument("-o", "--output", required=True, help="the print: .tif (16-bit) or .png")
    p.add_argument(
        "--time-budget", type=float, help="seconds of optimization (default: the run's steps)"
    )
    p.add_argument("--steps", type=int, help="evaluations (default: the run's own)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_print_flags(p)


def print_run(store, args) -> int:
    """`runs print`: a new stored run that starts from run `args.id`'s image at its own size,
    with the settings it ended with, and goes on coarse to fine up to the print size."""
    from PIL import Image

    from nst.cli.common import Progress, RunKeeper, UsageError, deepest_layer, drive
    from nst.engine.image import MAX_INPUT_SIDE, load_image, resize_long_side
    from nst.engine.model import load_model, pick_device
    from nst.record.recorded import RecordedRun, has_checkpoint
    from nst.record.schema import LIVE

    out = check_output(args.output)
    s = store.get_run(args.id, None)
    if s.status in LIVE:
        raise UsageError(f"run {args.id} is {s.status} in another process; pause or stop it first")
    if not has_checkpoint(s):
        raise UsageError(f"run {args.id} has no image yet to make a print from")
    source = s.config_at(s.evals)
    if args.size is None and args.print_size:
        w0, h0 = load_image(store.image_path(s.content), name=s.content_name).size
        args.size = apply_print_size(args, source, max(w0, h0) / min(w0, h0)).size
    if args.size is None:
        raise UsageError("say the print's size: --size PX, or --print-size WxHcm with --dpi")
    if not source.size < args.size <= 8192:
        raise UsageError(f"--size must be larger than the run's {source.size} px and at most 8192")
    cfg = print_config(source, args.size, args.steps, args.time_budget)
    side = max(MAX_INPUT_SIDE, cfg.size)
    content = load_image(store.image_path(s.content), max_side=side, name=s.content_name)
    styles = [
        load_image(store.image_path(h), max_side=side, name=n)
        for n, h in zip(s.style_names, s.styles, strict=False)
    ]
    device = pick_device(cfg.device)
    size = resize_long_side(content, cfg.size, s.content_name).size
    cfg, plan = plan_for(args, cfg, size, device)
    model = load_model(cfg.model, cfg.weights, device, last_layer=deepest_layer(cfg))
    if args.plan:
        say_time(model, cfg, content.size, plan)
        return 0
    w, h = size
    note = f"a print of run {args.id} (its image at step {s.evals}), {w}x{h} px"
    with Image.open(s.thumbnail) as im:
        progress = Progress(args.quiet)
        run = begin_print(model, content, styles, cfg, im, plan, note, progress)
    recorded = RecordedRun.create(
        store,
        store.image_path(s.content).read_bytes(),
        [store.image_path(h_).read_bytes() for h_ in s.styles],
        cfg,
        owner=s.owner,
        source="cli",
        content_name=s.content_name,
        style_names=list(s.style_names),
        device=str(run.device),
        weights=run.weights_source,
    )
    recorder = RunKeeper(recorded)
    try:
        drive(run, [], lambda: recorder.tick(run))
    except KeyboardInterrupt:
        run.stop()
    progress.close()
    facts = trace.of_run(run, s.content_name, list(s.style_names), recorded.id)
    write(out, run, facts, args.dpi)
    recorder.finish(run)
    print(
        f"wrote {out}: a print of run {args.id} as run {recorded.id}, {w}x{h} px, {run.evals} steps, "
        f"{run.seconds:.1f} s on {run.device}",
        file=sys.stderr,
    )
    return 1 if run.status == "failed" else 0
