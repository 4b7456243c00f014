"""Finished runs side by side: their labels, a table of their settings, what makes losses differ.

A run is described by a `RunSnapshot`: what the dashboard keeps of a run it finished, or of one
in the run store, made in one place from either. No Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from nst.engine.config import Config
from nst.engine.contract import Change
from nst.engine.records import LossRecord, format_value


@dataclass(frozen=True)
class RunSnapshot:
    """A finished run as the Compare page shows it."""

    config: Config  # as at the end of the run
    id: int | str = 0  # the session's run id, or "store:<id>"
    image: Image.Image | None = None
    status: str = "done"
    evals: int = 0
    seconds: float = 0.0
    final: LossRecord | None = None  # its last record
    changes: tuple[Change, ...] = ()  # settings changed while it ran
    content: str = "?"
    styles: tuple[str, ...] = ()
    store_id: int | None = None

    @classmethod
    def of_run(cls, run, content: str, styles, store_id: int | None = None) -> RunSnapshot:
        """A live run (either kind, nst.engine.contract.LiveRun) as it is now."""
        return cls(
            config=run.config,
            id=run.id,
            image=run.image(),
            status=str(run.status),
            evals=run.evals,
            seconds=run.seconds,
            final=run.history[-1] if run.history else None,
            changes=tuple(Change.of(c) for c in run.changes),
            content=content or "?",
            styles=tuple(styles),
            store_id=store_id,
        )

    @classmethod
    def of_stored(cls, stored, image: Image.Image) -> RunSnapshot:
        """A stored run (nst.record.store.StoredRun) with its latest image."""
        return cls(
            config=stored.config_at(),
            id=f"store:{stored.id}",
            image=image,
            status=stored.status,
            evals=stored.evals,
            seconds=stored.seconds,
            final=LossRecord(**stored.history[-1]) if stored.history else None,
            changes=tuple(stored.timeline()),
            content=stored.content_name,
            styles=tuple(stored.style_names),
            store_id=stored.id,
        )


SHOWN = [
    "size",
    "steps",
    "time_budget",
    "style_strength",
    "alpha",
    "beta",
    "style_weights",  # one row per layer
    "content_layer",
    "convention",
    "style_notion",
    "optimizer",
    "lr",
    "history",
    "pyramid",
    "init",
    "tv_weight",
    "preserve_color",
    "style_scale",
    "style_blend",
    "regions",
    "pooling",
    "scales",
    "random_seed",
    "model",
    "weights",
    "precision",
]
# Settings that change what a loss value measures: with any of them different, two runs' losses
# are on different scales (the loss sums over more positions, weights it otherwise, or compares
# other pictures).
LOSS_SCALE = {
    "size": "image size",
    "style_strength": "style strength",
    "alpha": "α",
    "beta": "β",
    "style_weights": "style layer weights",
    "content_layer": "content layer",
    "convention": "loss convention",
    "style_notion": "notion of style",
    "pooling": "pooling",
    "model": "network",
    "weights": "network weights",
    "style_scale": "style scale",
    "style_blend": "style blend",
}


def fmt(value: Any) -> str:
    """A setting as the sidebar writes it: 1e+06, not 1000000.0; 0.75; 256; None as "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {fmt(v)}" for k, v in value.items())
    return str(value)


def weights_text(beta: float | None, strength: float | None, alpha: float | None = 1.0) -> str:
    """How a run weighed style: "strength 4" (β from the strength), or "β 1e+05" (exact), with
    α where it is not 1 (it matters only beside an exact β)."""
    nb = "\u00a0"
    if beta is None:
        return f"strength{nb}{fmt(strength)}" if strength is not None else ""
    text = f"β{nb}{fmt(beta)}"
    return text if alpha in (None, 1.0) else f"α{nb}{fmt(alpha)} {text}"


def weights_change_text(started: dict, beta, strength, alpha) -> str:
    """How a run ended up weighing style (`weights_text`), after how it started where a change
    moved it (`started`: {field: value at the start} of those that changed): "strength 4 → 2",
    "strength 4 → β 1e+05"."""
    end = weights_text(beta, strength, alpha)
    first = {"beta": beta, "style_strength": strength, "alpha": alpha} | started
    start = weights_text(first["beta"], first["style_strength"], first["alpha"])
    if start == end:
        return end
    if first["beta"] is None and beta is None and strength is not None:
        return f"{start} → {fmt(strength)}"
    return f"{start} → {end}"


def record_beta(record, config) -> float:
    """The β a record was scored with: recorded with it, else the config's exact β (NaN for
    a record older than the strength, whose β was not kept)."""
    if getattr(record, "beta", None) is not None:
        return record.beta
    return config.beta if config.beta is not None else float("nan")


def label(number: int, run: RunSnapshot) -> str:
    """A name that tells runs apart: "#3 cat + swirls · β 1e+06 · 256 px · 200 steps" (each
    value joined to its name by a no-break space, so a wrapped caption keeps them together)."""
    cfg = run.config
    styles = ", ".join(run.styles) or "?"
    nb = "\u00a0"
    return (
        f"#{number} {run.content} + {styles} · "
        f"{weights_text(cfg.beta, cfg.style_strength, cfg.alpha)} · "
        f"{cfg.size}{nb}px · {run.evals}{nb}steps"
    )


def changes_text(changes: list | None) -> str:
    """E.g. "step 40: β 1e+06; step 90: steps 200"; "" for a run left alone."""
    parts = []
    for step, fields in changes or []:
        what = ", ".join(f"{_name(k)} {_changed(k, v)}" for k, v in fields.items())
        parts.append(f"step {step}: {what}")
    return "; ".join(parts)


def _changed(field: str, value) -> str:
    if (field == "beta" and value is None) or field == "regions":
        return format_value(field, value)  # "from the strength"; "2 painted (...)"
    return fmt(value)


def _name(field: str) -> str:
    return {"alpha": "α", "beta": "β", "style_strength": "strength"}.get(field, field)


def _rows_of(cfg) -> dict[str, Any]:
    d = cfg.to_dict()
    out: dict[str, Any] = {}
    for key in SHOWN:
        if key == "style_weights":
            for layer, w in d["style_weights"].items():
                out[f"weight {layer}"] = w
        elif key == "beta" and d["beta"] is None:
            out[key] = "from the strength"
        elif key == "regions" and d["regions"] is not None:
            out[key] = format_value("regions", d["regions"])
        elif key in d:
            out[key] = d[key]
    return out


def settings_table(runs: list[RunSnapshot], names: list[str]) -> list[dict[str, str]]:
    """One row per setting (one per style layer weight), one column per run, and a "differs"
    mark; a last row lists the settings changed mid-run, where any were."""
    values = [_rows_of(r.config) for r in runs]
    keys = list(dict.fromkeys(k for v in values for k in v))
    layer_keys = [k for k in keys if k.startswith("weight ")]
    table = []
    for key in keys:
        default = 0.0 if key in layer_keys else None  # a layer a run did not use weighs 0
        cells = [fmt(v.get(key, default)) for v in values]
        table.append(_row(key, names, cells))
    used = [fmt(record_beta(r.final, r.config)) if r.final else "–" for r in runs]
    table.append(_row("β used (last step)", names, used))
    changed = [changes_text(r.changes) for r in runs]
    if any(changed):
        table.append(_row("changed mid-run", names, [c or "–" for c in changed]))
    return table


def _row(setting: str, names: list[str], cells: list[str]) -> dict[str, str]:
    return {
        "setting": setting,
        **dict(zip(names, cells, strict=True)),
        "differs": "●" if len(set(cells)) > 1 else "",
    }


def loss_differences(runs: list[RunSnapshot]) -> list[str]:
    """What differs between runs in a way that puts their final losses on different scales: the
    images, or settings in LOSS_SCALE (as at the end of each run, when the final loss was taken)."""
    out = []
    if len({(r.content, r.styles) for r in runs}) > 1:
        out.append("images")
    dicts = [r.config.to_dict() for r in runs]
    for key, name in LOSS_SCALE.items():
        if len({fmt(d.get(key)) for d in dicts}) > 1:
            out.append(name)
    return out
