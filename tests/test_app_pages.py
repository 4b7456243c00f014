"""Each exploration page in AppTest: opens with the samples, switches layers, draws real data."""

import io
import json
import re

import pytest
from PIL import Image

from nst.engine.config import NOTION_NAMES
from nst.engine.image import resize_long_side
from nst.samples import PHOTOS
from tests.apptest import download_bytes, errors, settle, untrained_app


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
    height = resize_long_side(Image.open(PHOTOS[at.session_state.content_name]), 256).height
    at.switch_page("pages/features.py").run()
    assert not errors(at)
    first = charts(at)[0]["data"][0]["z"]
    assert rows(first) == height // 4  # relu3_1: a quarter of the photo's 256 px size
    at.selectbox(key="fm_layer").set_value("conv1_1").run()
    assert not errors(at)
    big = charts(at)[0]
    assert rows(big["data"][0]["z"]) == height and "conv1_1" in big["layout"]["title"]["text"]
    specs = charts(at)
    assert len(specs) == 3  # large view, bars, the channel in every image
    bars = specs[1]
    assert bars["layout"]["xaxis"]["type"] == "category"  # not slivers on a 0-500 axis
    assert len(bars["data"][0]["x"]) == 16 and bars["data"][0]["x"][0].startswith("#")
    side = specs[2]
    assert [t["name"] for t in side["data"]] == ["content", "style"]
    assert {t["coloraxis"] for t in side["data"]} == {"coloraxis"}  # one scale, one colour bar
    assert "colorbar" in side["layout"]["coloraxis"]
    at.radio(key="fm_source").set_value("style").run()
    assert not errors(at)


def test_gram_page_shows_three_heatmaps_on_one_scale_and_layer_bars(at):
    at.switch_page("pages/style.py").run()
    assert not errors(at)
    specs = charts(at)
    heat = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    assert len(heat) == 3
    assert len({(h["data"][0]["zmin"], h["data"][0]["zmax"]) for h in heat}) == 1
    assert rows(heat[0]["data"][0]["z"]) == 32
    bars = [s for s in specs if s["data"][0]["type"] == "bar"][0]
    assert bars["data"][0]["x"] == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    share_axis, distance_axis = bars["layout"]["yaxis2"], bars["layout"]["yaxis"]
    assert share_axis["dtick"] == 0.25 and share_axis["tickformat"] == ".0%"
    assert distance_axis["type"] == "log"
    assert "dtick" in distance_axis or "tickformat" in distance_axis  # no "3 4 5" digits
    assert sum(bars["data"][1]["y"]) == pytest.approx(1.0)
    at.selectbox(key="ss_layer").set_value("conv3_1").run()
    at.slider(key="ss_k").set_value(16).run()
    assert not errors(at)
    heat = [s for s in charts(at) if s["data"][0]["type"] == "heatmap"]
    assert rows(heat[0]["data"][0]["z"]) == 16


def test_layer_lab_shows_gradients_converter_and_layer_names(at):
    at.switch_page("pages/lab.py").run()
    assert not errors(at)
    grads = next(s for s in charts(at) if s["data"][0]["type"] == "heatmap")
    titles = [t["name"] for t in grads["data"]]
    assert titles == ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1", "content conv4_2"]
    scale = grads["layout"]["coloraxis"]  # one colour scale, with its bar, for every map
    assert {t["coloraxis"] for t in grads["data"]} == {"coloraxis"} and "colorbar" in scale
    assert (scale["cmin"], scale["cmax"]) == (0, 1)
    frames = at.dataframe
    assert len(frames) == 2
    conventions = frames[0].value
    assert list(conventions["convention"]) == ["seed", "gatys2016", "normalized"]
    names = frames[1].value
    assert "conv5_4" in list(names["name"]) and list(names["torchvision index"])[0] == 0


def test_layer_lab_conventions_use_the_photos_own_shape(at):
    photo = Image.open(PHOTOS[at.session_state.content_name])
    at.switch_page("pages/lab.py").run()
    for size in (256, 1024):
        at.select_slider(key="lab_size").set_value(size).run()
        assert not errors(at)
        w, h = resize_long_side(photo, size).size
        text = " ".join(c.value for c in at.caption)
        assert abs(int(re.search(r"at (\d+)x(\d+) px", text).group(2)) - h) <= 1
        assert f"at {w}x" in text


def test_layer_lab_grid_computes_and_caches(at, monkeypatch):
    at.switch_page("pages/lab.py").run()
    at.button(key="go_style").click().run()  # each run computes one more cell
    for _ in range(6):
        at.run()
    assert not errors(at)
    assert any(b.label == "Download this grid (PNG)" for b in at.get("download_button"))
    # Another session opening the page gets the cached grid, and its download, at once.
    other = untrained_app(monkeypatch)
    other.switch_page("pages/lab.py").run()
    buttons = [b for b in other.get("download_button") if b.label == "Download this grid (PNG)"]
    assert len(buttons) == 1  # the style grid; the content grid was never computed
    sheet = Image.open(io.BytesIO(download_bytes(buttons[0])))
    assert sheet.width == 5 * 160 + 4 * 8 + 2 * 8  # five reconstructions, enlarged to 160 px


def test_compare_page_lists_basket(at):
    at.select_slider(key="cfg_size").set_value(128)
    at.number_input(key="cfg_steps").set_value(2)
    at.run()
    for _ in range(2):
        at.button(key="btn_start").click().run()
        settle(at, lambda r: r.finished)
        at.run()  # the app's rerun once it ended
    at.switch_page("pages/compare.py").run()
    assert not errors(at)
    assert len(at.session_state.basket) == 2
    chosen = at.multiselect(key="cmp_runs").value
    assert len(chosen) == 2 and len(set(chosen)) == 2  # every run its own label
    first = chosen[0].replace("\u00a0", " ")
    store_ids = [r.store_id for r in at.session_state.basket]
    assert first.startswith(f"#{store_ids[0]} ") and "128 px" in first and "strength 4" in first
    table = at.dataframe[0].value
    settings = list(table["setting"])
    assert "weight conv1_1" in settings and "weight conv5_1" in settings
    assert "content_layer" in settings and "changed mid-run" not in settings
    assert table.set_index("setting").loc["style_strength", f"#{store_ids[0]}"] == "4"
    assert not [w for w in at.warning if "comparable" in w.value]  # same sizes and weights
    assert any(b.label == "Download a sheet of these (PNG)" for b in at.get("download_button"))


def test_compare_page_warns_when_losses_are_not_comparable_and_shows_changes(at):
    from nst.engine.config import Config
    from nst.engine.contract import Change
    from nst.lab.compare import RunSnapshot
    from ui.session import Basket

    at.switch_page("pages/compare.py").run()
    image = Image.new("RGB", (64, 48), "gray")
    snap = {"image": image, "evals": 10, "seconds": 1.0, "content": "cat", "styles": ("swirls",)}
    basket = Basket()
    basket.add(RunSnapshot(Config(size=128), id=1, **snap))
    changes = (Change(5, {"beta": 1e6}),)
    basket.add(RunSnapshot(Config(size=256, beta=1e6), id=2, changes=changes, **snap))
    at.session_state.basket = basket
    at.run()
    assert not errors(at)
    warning = next(w.value for w in at.warning if "comparable" in w.value)
    assert "image size" in warning and "β" in warning and "not comparable" in warning
    table = at.dataframe[0].value.set_index("setting")
    assert table.loc["changed mid-run", "#2"] == "step 5: β 1e+06"
    assert table.loc["changed mid-run", "#1"] == "–"
    assert table.loc["size", "differs"] == "●"


def test_a_crash_in_a_page_does_not_discard_the_run(at, monkeypatch):
    at.select_slider(key="cfg_size").set_value(128)
    at.number_input(key="cfg_steps").set_value(50)
    at.run()
    at.button(key="btn_start").click().run()
    at.run()  # the first tick draws the start; the second steps
    at.button(key="btn_pause").click().run()
    run = at.session_state.run

    def broken(*_a, **_k):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr("nst.lab.explore.channel_stats", broken)
    at.switch_page("pages/features.py").run()
    assert errors(at)  # the page shows its error ...
    at.switch_page("pages/stylize.py").run()
    assert at.session_state.run is run and run.history  # ... and the run is still there
    assert not errors(at)


@pytest.mark.parametrize("notion", NOTION_NAMES)
def test_style_page_shows_a_blended_runs_own_objective(at, notion):
    """Two paintings blended, used whole at a larger scale: under each notion of style, the
    Style statistics page's shares per layer are the run's last record's, and its target is the
    blend."""
    at.selectbox(key="cfg_style_notion").set_value(notion)
    at.select_slider(key="cfg_size").set_value(128)
    at.number_input(key="cfg_steps").set_value(50)
    at.multiselect(key="style_names").set_value(["starry_night", "the_scream"]).run()
    at.slider(key="blend_the_scream").set_value(0.3)
    at.selectbox(key="cfg_style_fit").set_value("whole")
    at.number_input(key="cfg_style_scale").set_value(1.5).run()
    at.button(key="btn_start").click().run()
    at.run()
    at.button(key="btn_pause").click().run()
    run = at.session_state.run
    assert run.config.style_blend == (1.0, 0.3) and run.config.style_fit == "whole"
    at.switch_page("pages/style.py").run()
    assert not errors(at)
    assert any("Showing this run" in c.value for c in at.caption)
    specs = charts(at)
    assert run.config.style_notion == notion
    heat = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    if notion == "patches":  # the photo, and the paintings' pieces it matched
        assert len(at.main.get("image")) >= 2 and not heat
    else:
        assert heat[0]["layout"]["title"]["text"].endswith("of the paintings, blended")
    bars = [s for s in specs if s["data"][-1].get("name") == "share of style loss"][0]
    recorded = run.history[-1].style_layers
    total = sum(recorded.values())
    shares = dict(zip(bars["data"][1]["x"], bars["data"][1]["y"], strict=True))
    assert set(shares) == set(recorded)
    for layer, term in recorded.items():
        assert shares[layer] == pytest.approx(term / total, rel=0.01)


def test_every_widget_key_the_pages_write_belongs_to_a_declared_family():
    """A key given in the pages' code (literal, or the literal start of an f-string) is declared:
    the tour below sees only the keys a widget leaves in the session state."""
    import re
    from pathlib import Path

    from ui import session

    root = Path(__file__).resolve().parent.parent
    keys = set()
    for path in [*root.glob("pages/*.py"), *root.glob("ui/*.py"), root / "streamlit_app.py"]:
        keys |= set(re.findall(r'key=f?"([A-Za-z_]+)', path.read_text()))
    assert len(keys) > 20
    assert sorted(k for k in keys if not session.declared(k)) == []


def test_every_session_key_a_tour_of_the_pages_makes_is_declared(at):
    """ui.session declares every key of the session state (or the widget family that owns it):
    a run, a step, and every page visited leave no other key behind."""
    from ui import session

    at.select_slider(key="cfg_size").set_value(128)
    at.number_input(key="cfg_steps").set_value(2)
    at.run()
    at.button(key="btn_start").click().run()
    at.run()
    for page in ("stylize", "features", "style", "lab", "compare", "gallery", "sweep"):
        at.switch_page(f"pages/{page}.py").run()
        assert not errors(at), page
    keys = list(at.session_state)
    assert "run" in keys and "cfg_size" in keys  # the check sees both kinds
    assert [k for k in keys if not session.declared(k)] == []
    assert isinstance(at.session_state.run_meta, session.RunMeta)
    assert isinstance(at.session_state.basket, session.Basket)


PAGES = ["stylize", "gallery", "compare", "sweep", "features", "style", "lab"]
UNUSUAL = {  # every sidebar control at a value a curious student might leave it at
    "number_input": {
        "cfg_steps": 1,
        "cfg_alpha": 0.0,
        "cfg_beta": 1e12,
        "cfg_lr": 50.0,
        "cfg_history": 1,
        "cfg_pyramid": 6,
        "cfg_tv_weight": 10.0,
        "cfg_style_scale": 0.05,
        "cfg_scales": 5,
        "cfg_random_seed": -7,
    },
    "selectbox": {
        "content_name": "astronaut",
        "cfg_content_layer": "conv5_4",
        "cfg_optimizer": "adam",
        "cfg_init": "noise",
        "cfg_preserve_color": "histogram",
        "cfg_style_fit": "crop",
        "cfg_pooling": "avg",
        "cfg_convention": "normalized",
        "cfg_precision": "fp32",  # bf16 on a CPU without it: minutes per measure
        "cfg_device": "cpu",
    },
    "slider": {"cfg_style_strength": 0.0, "sw_conv1_1": 0.0, "sw_conv5_1": 1.0},
    "select_slider": {"cfg_size": 128},
}


def test_every_sidebar_control_at_an_unusual_value_renders_every_page(monkeypatch):
    """A blend of three paintings (one weighted 0) and every other control off its default: each
    page renders without an error. Another precision and pooling make the server measure its
    pace with this config (it used to measure again every ten minutes): with a blend that
    raised, and the Stylize page crashed ten minutes into a lesson."""
    at = untrained_app(monkeypatch)
    at.multiselect(key="style_names").set_value(["the_scream", "swirls", "waves"]).run()
    at.slider(key="blend_the_scream").set_value(0.0).run()
    at.slider(key="blend_waves").set_value(0.35).run()
    for kind, values in UNUSUAL.items():
        for key, value in values.items():
            getattr(at, kind)(key=key).set_value(value)
    at.run()
    assert not errors(at)
    cfg = at.session_state.config
    assert cfg.style_blend == (0.0, 1.0, 0.35) and cfg.pooling == "avg" and cfg.steps == 1
    for name in PAGES:
        at.switch_page(f"pages/{name}.py").run()
        assert not errors(at), name
    at.switch_page("pages/stylize.py").run()
    assert any("Start takes" in c.value for c in at.caption)
    at.button(key="btn_start").click().run()
    run = settle(at, lambda r: r is not None and r.finished)
    assert run.status == "done" and len(run.styles_src) == 3 and not errors(at)
