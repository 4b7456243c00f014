"""Figure builders: axes a class can read (few ticks, compact numbers, the right kind of axis)."""

import numpy as np
import pytest

from nst.engine.run import LossRecord
from nst.lab import viz


def _history(totals: list[float]) -> list[LossRecord]:
    return [
        LossRecord(
            step=i,
            scale=0,
            width=256,
            height=170,
            total=t,
            content=t / 10,
            style=t / 1e5,
            style_layers={"conv1_1": t / 2e5, "conv2_1": t / 2e5},
            tv=0.0,
            seconds=float(i),
        )
        for i, t in enumerate(totals)
    ]


def test_log_axis_labels_whole_decades_as_powers_of_ten():
    axis = viz.log_axis([3.2e4, 1.2e9])
    assert axis["type"] == "log" and axis["exponentformat"] == "power" and axis["dtick"] == 1
    lo, hi = axis["range"]
    assert 3 < lo < 4.5 and 9 < hi < 10.5  # whole decades 10⁴..10¹⁰ with a little padding
    assert viz.log_axis([1e-3, 1e12])["dtick"] == 3  # many decades: a few labels, not fifteen


def test_log_axis_within_a_decade_uses_a_few_short_numbers():
    axis = viz.log_axis([1.2224215e9, 1.25e9, 0.0, np.nan])
    assert axis["tickformat"] == ".3~g" and axis["nticks"] <= 6 and "dtick" not in axis
    assert viz.log_axis([])["dtick"] == 1


def test_loss_charts_use_compact_axes():
    hist = _history([1.2224215e9 / (1.5**i) for i in range(10)])
    loss = viz.loss_figure(hist, alpha=1.0, beta=1e5)
    assert loss.layout.yaxis.type == "log" and loss.layout.yaxis.dtick == 1
    assert loss.layout.yaxis.exponentformat == "power"
    assert loss.layout.yaxis.hoverformat == ".4~g"
    layers = viz.layer_figure(hist, beta=1e5)
    assert layers.layout.yaxis.type == "log" and layers.layout.yaxis.dtick == 1
    flat = viz.loss_figure(hist[:1], alpha=0.0, beta=1e5)  # total = β·style, content 0
    assert flat.layout.yaxis.tickformat == ".3~g"  # one point: no ten-digit labels
    share = viz.layer_share_figure(hist)
    assert share.layout.yaxis.tickformat == ".0%" and share.layout.yaxis.dtick == 0.25
    assert tuple(share.layout.yaxis.range) == (0, 1)


def test_gram_distance_figure_has_a_readable_share_axis():
    fig = viz.gram_distance_figure(["conv1_1", "conv2_1"], [3e-2, 4e-1], [0.3, 0.7], "t")
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick == 1  # 10⁻², 10⁻¹, 1
    y2 = fig.layout.yaxis2
    assert y2.tickformat == ".0%" and y2.dtick == 0.25 and y2.showgrid is False
    assert fig.layout.xaxis.type == "category"


def test_channel_bars_are_categories_in_the_given_order():
    fig = viz.channel_bar_figure([412, 7, 90], [3.0, 2.0, 1.0], "mean", highlight=7)
    assert fig.layout.xaxis.type == "category"  # not bars at x = 412 on a 0-500 axis
    assert list(fig.data[0].x) == ["#412", "#7", "#90"]
    colors = list(fig.data[0].marker.color)
    assert colors[1] != colors[0] == colors[2]


def test_heatmap_row_shares_one_colour_scale_and_keeps_aspect():
    maps = {"content": np.zeros((8, 16)), "style": np.full((8, 16), 4.0)}
    fig = viz.heatmap_row(maps)
    assert [t.coloraxis for t in fig.data] == ["coloraxis", "coloraxis"]
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == pytest.approx(4.0)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"


def test_change_markers_stand_above_the_plot_unrotated_with_the_sidebars_names():
    from nst.engine.run import Event

    hist = _history([1e9 / (1.2**i) for i in range(100)])
    events = [
        Event(30, "style_strength: 4 -> 2; β: 0.507 -> 0.0109"),
        Event(31, "scale 2/2: 512x384"),  # a step later: a marker of its own, not on top of it
        Event(70, "lr: 1 -> 0.5"),
    ]
    for fig in (
        viz.loss_figure(hist, alpha=1.0, beta=1e5, events=events),
        viz.layer_figure(hist, beta=1e5, events=events),
    ):
        marks = fig.layout.annotations
        assert [a.text for a in marks] == ["1", "2", "3"]
        for a in marks:
            assert a.textangle in (None, 0) and a.yref == "paper" and a.y == 1.0
            assert a.yanchor == "bottom" and not a.showarrow  # above the plot area, level
        assert marks[0].hovertext == "step 30: Style strength: 4 → 2; β: 0.507 → 0.0109"
        assert marks[2].hovertext == "step 70: Learning rate: 1 → 0.5"
        assert marks[0].yshift != marks[1].yshift  # close markers are staggered
        lines = [(s.x0, s.x1) for s in fig.layout.shapes]
        assert lines == [(30.5, 30.5), (31.5, 31.5), (70.5, 70.5)]
        named = [t.name for t in fig.data if t.legendgroup == "events"]
        assert named == [
            "1 Style strength: 4 → 2; β: 0.507 → 0.0109",
            "2 scale 2/2: 512x384",
            "3 Learning rate: 1 → 0.5",
        ]
        assert "style_strength" not in fig.to_json()  # never the field's internal name
        assert fig.layout.margin.t > 40  # room above the plot for the numbers


def test_event_text_uses_the_sidebars_labels():
    from nst.lab.marks import event_text

    assert event_text("beta: 1e+05 -> 2e+05") == "β: 1e+05 → 2e+05"
    assert event_text("tv_weight: 0 -> 1e-06; lr: 1 -> 0.5") == (
        "Smoothing (TV weight): 0 → 1e-06; Learning rate: 1 → 0.5"
    )
    assert event_text("diverged; last finite image kept") == "diverged; last finite image kept"


def test_no_map_colour_is_one_of_streamlits_placeholders():
    """Streamlit's chart theme stands "#000001" to "#000040" in for its own colours: a colour
    scale stop among them is drawn in a theme colour (Magma's black became a light red, so a
    held region's zeros looked hot)."""
    import re

    from nst.lab.viz import gradient_figure, heatmap_row

    maps = {"a": np.zeros((4, 6)), "b": np.arange(24.0).reshape(4, 6)}
    for fig in (gradient_figure(maps), heatmap_row(maps)):
        scale = fig.layout.coloraxis.colorscale
        colours = [str(c).lower() for _, c in scale]
        assert colours and not any(re.fullmatch(r"#0000[0-9a-f]{2}", c) for c in colours)
    assert gradient_figure(maps).layout.coloraxis.colorscale[0][1] == "#010005"  # black, nearly
