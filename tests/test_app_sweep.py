"""The Sweep page in AppTest: its defaults, a bad values text, and a tiny sweep from Start to the
downloads, with a cell sent to Compare."""

import csv
import io
import time

import pytest

from tests.apptest import download_bytes, errors, untrained_app


@pytest.fixture
def at(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_HOME", str(tmp_path))
    app = untrained_app(monkeypatch)
    app.switch_page("pages/sweep.py").run()
    assert not errors(app)
    return app


def test_page_renders_with_a_strength_sweep_over_its_range_and_its_estimate(at):
    assert at.selectbox(key="swp_field_0").value == "style_strength"
    assert at.text_input(key="swp_values_0").value == "0..6 lin 7"
    assert not at.error
    line = " ".join(m.value for m in at.markdown)
    assert "**7 cells**" in line and "on this machine (0 already computed)" in line
    assert at.button(key="swp_start").disabled is False


def test_choosing_a_field_fills_in_its_values(at):
    at.selectbox(key="swp_field_0").set_value("content_layer").run()
    assert at.text_input(key="swp_values_0").value == "conv2_2,conv4_2"
    assert "**2 cells**" in " ".join(m.value for m in at.markdown)


def test_bad_values_show_one_error_and_keep_the_text(at):
    at.text_input(key="swp_values_0").set_value("0..oops lin 4").run()
    assert len(at.error) == 1 and "style_strength" in at.error[0].value
    assert at.text_input(key="swp_values_0").value == "0..oops lin 4"
    assert not [b for b in at.button if b.key == "swp_start"]


def test_a_tiny_sweep_fills_its_grid_and_offers_the_downloads(at):
    at.sidebar.number_input(key="cfg_steps").set_value(3).run()
    at.selectbox(key="swp_field_0").set_value("beta").run()
    at.text_input(key="swp_values_0").set_value("1e3,1e5").run()
    at.selectbox(key="swp_field_1").set_value("size").run()
    at.text_input(key="swp_values_1").set_value("64").run()
    assert "**2 cells**" in " ".join(m.value for m in at.markdown)
    at.button(key="swp_start").click().run()
    worker = at.session_state.swp_worker
    deadline = time.time() + 120
    while worker.running and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    at.run()
    assert not worker.running and worker.progress().error is None
    assert not errors(at)
    assert len(at.main.get("image")) == 2
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Download the sheet (PNG)", "Download the results (CSV)"]
    rows = list(csv.DictReader(io.StringIO(download_bytes(at.get("download_button")[1]).decode())))
    assert [r["beta"] for r in rows] == ["1000.0", "100000.0"] and len(rows) == 2
    assert download_bytes(at.get("download_button")[0])[:4] == b"\x89PNG"
    assert at.get("plotly_chart")

    at.button(key="swp_cmp_0").click().run()
    assert at.session_state.basket[-1].config.beta == 1000.0

    at.switch_page("pages/sweep.py").run()
    at.button(key="swp_open_1").click().run()
    assert at.session_state.config.beta == 100000.0 and at.session_state.config.size == 128
    assert not errors(at)
