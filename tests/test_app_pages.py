"""Each exploration page in AppTest: opens with the samples, switches layers, draws real data."""

import json

import pytest

from tests.apptest import errors, untrained_app


@pytest.fixture
def at(monkeypatch):
    at = untrained_app(monkeypatch)
    return at


def rows(z) -> int:
    """Rows of a heatmap's z as Plotly's JSON writes it (a list, or a typed array with shape)."""
    return int(z["shape"].split(",")[0]) if isinstance(z, dict) else len(z)


def charts(at):
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_feature_maps_page_switches_layers(at):
    at.switch_page("pages/features.py").run()
    assert not errors(at)
    first = charts(at)[0]["data"][0]["z"]
    assert rows(first) == 42  # relu3_1 of a 256x170 image: 64x42
    at.selectbox(key="fm_layer").set_value("conv1_1").run()
    assert not errors(at)
    big = charts(at)[0]
    assert rows(big["data"][0]["z"]) == 170 and "conv1_1" in big["layout"]["title"]["text"]
    assert len(charts(at)) == 4  # large view, bars, the channel in content and in style
    at.radio(key="fm_source").set_value("style").run()
    assert not errors(at)


def test_gram_page_shows_three_heatmaps_on_one_scale_and_layer_bars(at):
    at.switch_page("pages/gram.py").run()
    assert not errors(at)
    specs = charts(at)
    heat = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    assert len(heat) == 3
    assert len({(h["data"][0]["zmin"], h["data"][0]["zmax"]) for h in heat}) == 1
    assert rows(heat[0]["data"][0]["z"]) == 32
    bars = [s for s in specs if s["data"][0]["type"] == "bar"][0]
    assert bars["data"][0]["x"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    assert sum(bars["data"][1]["y"]) == pytest.approx(1.0)
    at.selectbox(key="gm_layer").set_value("conv3_1").run()
    at.slider(key="gm_k").set_value(16).run()
    assert not errors(at)
    heat = [s for s in charts(at) if s["data"][0]["type"] == "heatmap"]
    assert rows(heat[0]["data"][0]["z"]) == 16


def test_layer_lab_shows_gradients_converter_and_layer_names(at):
    at.switch_page("pages/lab.py").run()
    assert not errors(at)
    grads = [s for s in charts(at) if s["data"][0]["type"] == "heatmap"]
    titles = [g["layout"]["title"]["text"] for g in grads]
    assert titles[:5] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    assert "content conv4_2" in titles
    frames = at.dataframe
    assert len(frames) == 2
    conventions = frames[0].value
    assert list(conventions["convention"]) == ["seed", "gatys2016", "normalized"]
    names = frames[1].value
    assert "conv5_4" in list(names["name"]) and list(names["torchvision index"])[0] == 0


def test_layer_lab_grid_computes_and_caches(at):
    at.switch_page("pages/lab.py").run()
    at.button(key="go_style").click().run()  # each run computes one more cell
    for _ in range(6):
        at.run()
    assert not errors(at)
    assert any(b.label == "Download this grid (PNG)" for b in at.get("download_button"))


def test_compare_page_lists_finished_runs(at):
    at.select_slider(key="cfg_size").set_value(128)
    at.number_input(key="cfg_steps").set_value(2)
    at.run()
    for _ in range(2):
        at.button(key="btn_start").click().run()
        at.run()
        at.run()
    at.switch_page("pages/compare.py").run()
    assert not errors(at)
    assert len(at.session_state.finished_runs) == 2
    assert len(at.multiselect(key="cmp_runs").value) == 2
    assert any(b.label == "Download a sheet of these (PNG)" for b in at.get("download_button"))


def test_a_crash_in_a_page_does_not_discard_the_run(at, monkeypatch):
    at.select_slider(key="cfg_size").set_value(128)
    at.number_input(key="cfg_steps").set_value(50)
    at.run()
    at.button(key="btn_start").click().run()
    at.button(key="btn_pause").click().run()
    run = at.session_state.run

    def broken(*_a, **_k):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr("nst.explore.channel_stats", broken)
    at.switch_page("pages/features.py").run()
    assert errors(at)  # the page shows its error ...
    at.switch_page("pages/stylize.py").run()
    assert at.session_state.run is run and run.history  # ... and the run is still there
    assert not errors(at)
