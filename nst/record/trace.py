"""One format for what a run leaves behind, live or stored: its trace (JSON) and its export files.

The Stylize page's Export, the Gallery's downloads and `python -m nst runs export` all write
`ExportFiles`: the PNG (start config, changes and facts embedded), the trace, the loss history as
CSV, the progress GIF and the command line that reproduces the run. The trace is built here only,
from a run of this process or the Ray-held one (`of_run`) or from the store (`of_stored`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from nst.engine.config import Config
from nst.engine.contract import Change, LiveRun
from nst.engine.records import LossRecord
from nst.record.export import cli_command, gif_bytes, history_csv, png_bytes, safe_filename
from nst.record.schema import StoredRun

UPLOAD = "upload: "  # how the dashboard names an uploaded input


@dataclass(frozen=True)
class ExportFiles:
    """A run's files, named `<stem>.<ext>`."""

    stem: str
    png: bytes | None  # None: no image yet
    json: str
    csv: str
    gif: bytes | None  # None: no progress frames
    cli: str  # the command that reproduces the run

    EXTS = ("png", "json", "csv", "gif")

    def get(self, ext: str) -> bytes | str | None:
        return getattr(self, ext)

    def write(self, folder: Path) -> list[Path]:
        """Write every file there is into `folder`; the paths written."""
        written = []
        for ext in self.EXTS:
            data = self.get(ext)
            if data is None:
                continue
            path = folder / f"{self.stem}.{ext}"
            path.write_text(data) if isinstance(data, str) else path.write_bytes(data)
            written.append(path)
        return written


def stem(content: str, styles: list[str] | tuple[str, ...], run_id: int | None = None) -> str:
    """A file-name stem: run12_tubingen_starry_night (without `run12_` for an unstored run)."""
    names = [Path(n.removeprefix(UPLOAD)).stem for n in (content, *styles)]
    name = "_".join(safe_filename(n) for n in names)
    return safe_filename(f"run{run_id}_{name}" if run_id is not None else name)[:80]


def _trace(
    *,
    config: Config,
    start_config: Config,
    changes: list[Change],
    beta: float | None,
    status: str,
    message: str,
    device: str,
    weights: str,
    seconds: float,
    evals: int,
    history: list[dict],
    events: list[dict],
    content: str,
    styles: list[str],
    run_id: int | None,
) -> dict:
    return {
        "run": run_id,  # its id in the run store, if stored
        "content": content,
        "styles": styles,
        "config": config.to_dict(),
        "beta": beta,  # the β of the last step: the exact one, or the style strength's
        "start_config": start_config.to_dict(),
        "changes": [c.to_dict() for c in changes],
        "status": status,
        "message": message,
        "device": device,
        "weights": weights,
        "seconds": round(seconds, 4),
        "evals": evals,
        "final_loss": history[-1]["total"] if history else None,
        "events": events,
        "history": history,
    }


def of_run(
    run: LiveRun, content: str = "", styles: list[str] | tuple[str, ...] = (), run_id: int | None = None
) -> dict:
    """The trace of a live run (either kind: nst.engine.run.Run or nst.compute.remote.RemoteRun)."""
    return _trace(
        config=run.config,
        start_config=run.start_config,
        changes=[Change.of(c) for c in run.changes],
        beta=run.beta,
        status=str(run.status),
        message=run.message,
        device=str(run.device),
        weights=run.weights_source,
        seconds=run.seconds,
        evals=run.evals,
        history=[dataclasses.asdict(r) for r in run.history],
        events=[dataclasses.asdict(e) for e in run.events],
        content=content,
        styles=list(styles),
        run_id=run_id,
    )


def of_stored(s: StoredRun) -> dict:
    """The trace of a stored run: the same keys as `of_run`'s."""
    return _trace(
        config=s.config_at(),
        start_config=Config.from_dict(s.config),
        changes=s.timeline(),
        beta=s.history[-1].get("beta") if s.history else None,
        status=s.status,
        message=s.message,
        device=s.device,
        weights=s.weights,
        seconds=s.seconds,
        evals=s.evals,
        history=s.history,
        events=s.events,
        content=s.content_name,
        styles=list(s.style_names),
        run_id=s.id,
    )


def metrics(run) -> dict:
    """`--metrics`: the trace of a run of this process and what only it tells (`Run.details`)."""
    return {**of_run(run), **run.details()}


def png_of(trace: dict, image: Image.Image) -> bytes:
    """The PNG of `image` with the trace's start config, changes and facts embedded."""
    facts = {k: trace[k] for k in ("weights", "device", "evals", "status", "beta")}
    facts["seconds"] = round(trace["seconds"], 3)
    if trace["run"] is not None:
        facts["run"] = trace["run"]
    changes = [Change.from_dict(c) for c in trace["changes"]]
    return png_bytes(image.convert("RGB"), Config.from_dict(trace["start_config"]), facts, changes)


def print_of(trace: dict, run: LiveRun, path: Path, dpi: int) -> bytes:
    """The print file of a run: a 16-bit TIFF (from the run's image before it is rounded to 8
    bits) or an 8-bit PNG, by `path`'s suffix, with the dpi, the sRGB profile and the trace."""
    from nst.record.export import png_bytes, tiff16_bytes

    facts = {k: trace[k] for k in ("weights", "device", "evals", "status", "beta")}
    facts["seconds"] = round(trace["seconds"], 3)
    if trace["run"] is not None:
        facts["run"] = trace["run"]
    changes = [Change.from_dict(c) for c in trace["changes"]]
    start = Config.from_dict(trace["start_config"])
    if path.suffix.lower() in (".tif", ".tiff"):
        from nst.engine.image import imagenet_stats

        t = run.result_tensor().detach()
        mean, std = imagenet_stats(t.device)
        rgb = (t * std + mean).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
        return tiff16_bytes(rgb, start, facts, changes, dpi)
    return png_bytes(run.image().convert("RGB"), start, facts, changes, dpi)


def files(trace: dict, image: Image.Image | None, gif: bytes | None) -> ExportFiles:
    """The export files of a trace, its image (None: none yet) and its progress GIF."""
    name = stem(trace["content"] or "nst", trace["styles"], trace["run"])
    changes = [Change.from_dict(c) for c in trace["changes"]]
    cli = cli_command(
        Config.from_dict(trace["start_config"]),
        trace["content"].removeprefix(UPLOAD) or "CONTENT",
        [s.removeprefix(UPLOAD) for s in trace["styles"]],
        f"{name}.png",
        changes,
    )
    return ExportFiles(
        stem=name,
        png=png_of(trace, image) if image is not None else None,
        json=json.dumps(trace, indent=1, default=str),
        csv=history_csv([LossRecord(**r) for r in trace["history"]]),
        gif=gif,
        cli=cli,
    )


def progress_gif(run: LiveRun) -> bytes | None:
    """The run's progress animation, ending on its image now (None before any frame)."""
    if not len(run.frames):
        return None
    frames = [f for _, f in run.frames]
    if run.frames[-1][0] != run.evals:
        frames.append(run.image().resize(frames[-1].size))
    return gif_bytes(frames)


def run_files(
    run: LiveRun, content: str, styles: list[str] | tuple[str, ...], run_id: int | None = None
) -> ExportFiles:
    """The export files of a live run."""
    return files(of_run(run, content, styles, run_id), run.image(), progress_gif(run))


def stored_files(s: StoredRun) -> ExportFiles:
    """The export files of a stored run: its latest image and stored animation."""
    image = None
    if s.thumbnail is not None and s.thumbnail.is_file():
        with Image.open(s.thumbnail) as im:
            image = im.convert("RGB")
    gif = s.progress.read_bytes() if s.progress and s.progress.is_file() else None
    return files(of_stored(s), image, gif)
