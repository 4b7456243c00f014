"""Comparing finished runs: distinct labels, every weight in the table, honest about losses."""

from nst.engine.config import Config
from nst.lab import compare


def _run(content="cat", styles=("swirls",), evals=80, changes=(), **cfg):
    return compare.RunSnapshot(
        Config(**cfg), content=content, styles=tuple(styles), evals=evals, changes=tuple(changes)
    )


def test_labels_tell_runs_apart_and_write_numbers_as_the_sidebar_does():
    a, b = _run(beta=1e6, steps=200, evals=200), _run(beta=1e6, steps=200, evals=200)
    label = compare.label(3, a)
    assert label.replace("\u00a0", " ") == "#3 cat + swirls · β 1e+06 · 256 px · 200 steps"
    assert "β\u00a01e+06" in label  # kept on one line when a sheet wraps the caption
    assert compare.label(1, a) != compare.label(2, b)
    assert compare.fmt(1000000.0) == "1e+06" and compare.fmt(0.75) == "0.75"
    assert compare.fmt(256) == "256" and compare.fmt(None) == "–"


def test_settings_table_has_a_row_per_style_layer_weight_and_marks_differences():
    a = _run(beta=1e6)
    b = _run(beta=1e5, style_weights=(("conv1_1", 0.2), ("conv3_1", 0.2)), content_layer="conv5_2")
    rows = {r["setting"]: r for r in compare.settings_table([a, b], ["#1", "#2"])}
    assert rows["beta"]["#1"] == "1e+06" and rows["beta"]["#2"] == "1e+05" and rows["beta"]["differs"]
    assert rows["weight conv1_1"]["#1"] == "1" and rows["weight conv1_1"]["#2"] == "0.2"
    assert rows["weight conv2_1"]["#2"] == "0"  # a layer the second run does not use
    assert rows["content_layer"]["#2"] == "conv5_2"
    assert rows["size"]["differs"] == "" and "changed mid-run" not in rows


def test_mid_run_changes_get_a_row_and_a_missing_key_means_none():
    a = _run(changes=[(40, {"beta": 1e6}), (90, {"steps": 200, "alpha": 2.0})])
    b = _run()  # no "changes" key at all
    rows = {r["setting"]: r for r in compare.settings_table([a, b], ["#1", "#2"])}
    assert rows["changed mid-run"]["#1"] == "step 40: β 1e+06; step 90: steps 200, α 2"
    assert rows["changed mid-run"]["#2"] == "–"
    assert compare.changes_text(None) == "" and compare.changes_text([]) == ""


def test_loss_differences_name_what_makes_losses_incomparable():
    base = _run()
    assert compare.loss_differences([base, _run(lr=0.5, steps=10)]) == []  # same objective
    assert compare.loss_differences([base, _run(size=512)]) == ["image size"]
    assert compare.loss_differences([base, _run(beta=1e6, convention="gatys2016")]) == [
        "β",
        "loss convention",
    ]
    weights = (("conv1_1", 0.2),)
    assert compare.loss_differences([base, _run(style_weights=weights)]) == ["style layer weights"]
    assert compare.loss_differences([base, _run(content="astronaut")]) == ["images"]


def test_weights_change_text_says_where_a_run_started_and_ended():
    from nst.lab.compare import weights_change_text

    nb = "\u00a0"
    assert weights_change_text({}, None, 2.0, 1.0) == f"strength{nb}2"
    assert weights_change_text({"style_strength": 4.0}, None, 2.0, 1.0) == f"strength{nb}4 → 2"
    assert weights_change_text({"beta": None}, 1e5, 4.0, 1.0) == f"strength{nb}4 → β{nb}1e+05"
