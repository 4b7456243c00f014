"""`python -m nst sweep`: the same stylization over photos x paintings x a grid of settings."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from nst.cli.common import (
    Parser,
    UsageError,
    add_config_flags,
    add_region_flags,
    config_from_args,
    regions_from_args,
    store_or_say,
    warn,
)
from nst.engine.image import ImageInputError
from nst.engine.model import WeightsError


def build_sweep_parser() -> argparse.ArgumentParser:
    from nst.lab.sweep import MAX_CELLS

    p = Parser(
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
    add_region_flags(p, sweep=True)
    add_config_flags(p)
    return p


def sweep_main(argv: list[str]) -> int:
    from nst.compute import backend
    from nst.compute.cluster import ClusterError
    from nst.lab import cells
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
        contents = cells.read_inputs(args.content)
        styles = [s for name in args.styles for s in cells.read_inputs(name)]
        cfg, _, _, note = regions_from_args(args, cfg, contents[0].size, ["1"], 1)
        if note and not args.quiet:
            print(f"nst: note: {note}", file=sys.stderr)
        plan = sw.Sweep(contents, styles, cfg, axes, limit=None if args.yes else sw.MAX_CELLS)
        model = cells.LocalExecutor().model_for(cfg)  # for the estimate, and local cells
    except (UsageError, ImageInputError, WeightsError, ValueError) as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    try:
        executor = backend.executor(args.backend, model)
    except ClusterError as exc:
        print(f"nst: error: {exc}", file=sys.stderr)
        return 2
    if model.is_random:
        warn("untrained (random) weights: the results are not real style transfer")
    store = store_or_say()
    if store is None:
        return 1
    t0 = time.perf_counter()
    pace = sw.measure_pace(plan, model) if plan.todo(store) else sw.Pace(0.0, 0.0)
    estimate = plan.estimate(pace, store, sw.device_name(model.mean.device))
    print(f"sweep: {estimate}", file=sys.stderr)
    if executor.slots > 1 or executor.where != cells.LocalExecutor.where:
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
        warn(f"stopped after {len(results)} of {len(plan)} cells; run the same command to go on")
    if code != 130 and (failed := [r for r in results if r.status != "done"]):
        print(f"nst: {len(failed)} cell(s) failed: {failed[0].message}", file=sys.stderr)
        code = 1
    store.close()
    return code
