"""Runs that last, in AppTest: the run store behind the Stylize page, the Gallery, identities
(the `id` in the URL), Compare reading the store, and a reloaded page finding its live run."""

import io
import secrets

import pytest
from PIL import Image

from nst.engine.config import Config
from nst.record.export import read_png_config
from nst.record.store import Store
from tests.apptest import download_bytes, errors, settle, untrained_app
from ui import registry


def token() -> str:
    return secrets.token_urlsafe(12)  # one identity per test: the live-run registry is per process


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_HOME", str(tmp_path))
    monkeypatch.delenv("NST_GALLERY", raising=False)
    return tmp_path


def small(at, steps: int = 3) -> None:
    at.sidebar.select_slider(key="cfg_size").set_value(128)
    at.sidebar.number_input(key="cfg_steps").set_value(steps)
    at.run()


def _stored_end(at) -> bool:
    """The worker has stored the run's end (it does so just after the last step)."""
    store_id = at.session_state.run_meta.store_id
    return store_id is None or Store().get_run(store_id, None).status != "running"


def finish_a_run(at, steps: int = 3):
    small(at, steps)
    at.button(key="btn_start").click().run()
    run = settle(at, lambda r: r.finished and _stored_end(at))  # in the server's worker
    assert run.status == "done" and run.evals == steps
    return run


def stored_run(
    home, owner: str, status: str = "done", evals: int = 2, steps: int = 6, changes=None
) -> int:
    """A run put in the store as another process would, with an image and its records (and
    `changes`, [{step, set}], made on the way)."""
    store = Store(home)
    cfg = Config(size=128, steps=steps, model="vgg19", weights="random")
    run_id = store.create_run(
        Image.new("RGB", (96, 64), "red"),
        [Image.new("RGB", (64, 64), "blue")],
        cfg,
        owner=owner,
        source="dashboard",
        content_name="cat",
        style_names=["swirls"],
    )
    record = {
        "scale": 0,
        "width": 128,
        "height": 85,
        "total": 5.0,
        "content": 1.0,
        "style": 2e-5,
        "style_layers": {"conv1_1": 1e-5},
        "tv": 0.0,
    }
    history = [{**record, "step": s + 1, "seconds": 0.1 * (s + 1)} for s in range(evals)]
    store.checkpoint(
        run_id,
        Image.new("RGB", (128, 85), "green"),
        history,
        status=status,
        evals=evals,
        seconds=0.1 * evals,
        changes=changes,
    )
    store.close()
    return run_id


def gallery(at):
    at.switch_page("pages/gallery.py").run()
    assert not errors(at)
    return at


def cards(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**#")]


def test_a_finished_run_is_stored_and_shown_in_the_gallery(home, monkeypatch):
    at = untrained_app(monkeypatch, token())
    run = finish_a_run(at)
    store_id = at.session_state.run_meta.store_id
    stored = Store(home).get_run(store_id, at.session_state.owner)
    assert stored.status == "done" and stored.evals == run.evals == len(stored.history)
    assert stored.source == "dashboard" and stored.content_name == "tubingen"
    assert stored.thumbnail.is_file() and stored.progress.is_file()  # final image and GIF
    assert stored.config["steps"] == 3 and stored.config["size"] == 128
    gallery(at)
    assert cards(at) == [f"**#{store_id}** tubingen + starry_night"]
    assert any("**done**" in c.value and "3 steps" in c.value for c in at.caption)
    assert len(at.main.get("image")) == 1


def test_pause_and_stop_reach_the_store_with_their_status(home, monkeypatch):
    at = untrained_app(monkeypatch, token())
    small(at, steps=500)
    at.button(key="btn_start").click().run()
    at.run()
    at.button(key="btn_pause").click().run()
    store, store_id = Store(home), at.session_state.run_meta.store_id
    paused = store.get_run(store_id, None)
    assert paused.status == "paused" and paused.evals == at.session_state.run.evals > 0
    assert paused.thumbnail.is_file()
    at.button(key="btn_stop").click().run()
    assert store.get_run(store_id, None).status == "stopped"


def test_a_card_gives_the_strength_the_run_ended_with(home, monkeypatch):
    me = token()
    changed = stored_run(home, me, changes=[{"step": 1, "set": {"style_strength": 2.0}}])
    alone = stored_run(home, me)
    at = gallery(untrained_app(monkeypatch, me))
    facts = [c.value for c in at.caption if "**done**" in c.value]
    assert len(facts) == 2  # newest first
    nb = "\u00a0"
    assert f"strength{nb}4 → 2 ·" in facts[1] and f"strength{nb}4 ·" in facts[0]
    summary = {r.id: r for r in Store(home).list_runs(me)}
    assert summary[changed].style_strength == 2.0 and summary[changed].started == {
        "style_strength": 4.0
    }
    assert summary[alone].style_strength == 4.0 and summary[alone].started == {}


def test_delete_asks_then_removes_the_run(home, monkeypatch):
    me = token()
    run_id = stored_run(home, me)
    at = gallery(untrained_app(monkeypatch, me))
    assert len(cards(at)) == 1
    at.button(key=f"gal_delete_{run_id}").click().run()
    assert any("for good" in w.value for w in at.warning)
    assert Store(home).list_runs(me)  # not yet: it asked first
    at.button(key=f"gal_yes_{run_id}").click().run()
    assert not cards(at) and not Store(home).list_runs(me)
    assert any("No stored runs yet" in i.value for i in at.info)


def test_an_identity_sees_only_its_own_runs(home, monkeypatch):
    alice, bob = token(), token()
    a_id, b_id = stored_run(home, alice), stored_run(home, bob)
    at_a = gallery(untrained_app(monkeypatch, alice))
    at_b = gallery(untrained_app(monkeypatch, bob))
    assert at_a.session_state.owner == alice and at_a.query_params["id"] == alice
    assert cards(at_a) == [f"**#{a_id}** cat + swirls"]
    assert cards(at_b) == [f"**#{b_id}** cat + swirls"]
    assert len(at_b.main.get("image")) == 1  # bob's thumbnail only: alice's image is never sent to him
    assert at_b.button(key=f"gal_delete_{b_id}")
    with pytest.raises(KeyError):
        at_b.button(key=f"gal_delete_{a_id}")


def test_a_shared_gallery_shows_everyone_and_others_runs_read_only(home, monkeypatch):
    alice, bob = token(), token()
    a_id, b_id = stored_run(home, alice), stored_run(home, bob)
    monkeypatch.setenv("NST_GALLERY", "shared")
    at = gallery(untrained_app(monkeypatch, bob))
    assert cards(at) == [f"**#{b_id}** cat + swirls", f"**#{a_id}** cat + swirls"]
    keys = {b.key for b in at.button}
    assert f"gal_delete_{b_id}" in keys and f"gal_delete_{a_id}" not in keys
    assert f"gal_export_{a_id}" in keys and f"gal_cmp_{a_id}" in keys


def test_a_new_session_without_an_id_gets_one_in_its_url(home, monkeypatch):
    at = untrained_app(monkeypatch)
    owner = at.session_state.owner
    assert len(owner) >= 12 and at.query_params["id"] == owner
    at.switch_page("pages/gallery.py").run()
    assert at.query_params["id"] == owner  # kept across pages


def test_a_reloaded_page_takes_over_the_live_run(home, monkeypatch):
    me = token()
    first = untrained_app(monkeypatch, me)
    small(first, steps=500)
    first.button(key="btn_start").click().run()
    first.run()
    run = first.session_state.run
    assert registry.get(me).run is run and run.status == "running"
    again = untrained_app(monkeypatch, me)  # a new session with the same URL: a reload
    assert again.session_state.run is run
    # the sidebar shows the run's settings: nothing reads as changed
    assert again.sidebar.number_input(key="cfg_steps").value == 500
    assert again.session_state.config == run.config
    assert again.session_state.run_meta.store_id == first.session_state.run_meta.store_id
    evals = run.evals
    settle(again, lambda r: r.evals > evals)  # it goes on, in the server's worker
    stranger = untrained_app(monkeypatch, token())
    assert stranger.session_state.run is None
    again.button(key="btn_stop").click().run()


def test_a_reload_keeps_the_students_photo_upload_paintings_and_settings(home, monkeypatch):
    me = token()
    first = untrained_app(monkeypatch, me)
    buf = io.BytesIO()
    Image.new("RGB", (90, 60), (200, 40, 40)).save(buf, format="PNG")
    first.sidebar.file_uploader(key="up_content").set_value(("red.png", buf.getvalue(), "image/png"))
    first.run()
    first.sidebar.multiselect(key="style_names").set_value(["the_scream"]).run()
    first.sidebar.slider(key="cfg_style_strength").set_value(5.0)
    small(first, steps=500)
    first.button(key="btn_start").click().run()
    again = untrained_app(monkeypatch, me)  # the reload: a new session, the same URL
    assert again.sidebar.selectbox(key="content_name").value == "upload: red.png"
    assert again.sidebar.multiselect(key="style_names").value == ["the_scream"]
    assert again.sidebar.slider(key="cfg_style_strength").value == 5.0
    assert again.session_state.uploads["upload: red.png"].size == (90, 60)
    assert not errors(again)
    again.button(key="btn_stop").click().run()


def test_export_gives_the_png_with_its_config(home, monkeypatch):
    me = token()
    run_id = stored_run(home, me, status="stopped")
    at = gallery(untrained_app(monkeypatch, me))
    at.button(key=f"gal_export_{run_id}").click().run()
    buttons = {b.label: b for b in at.get("download_button")}
    assert {"Image (PNG + config)", "Run trace (JSON)", "Loss history (CSV)"} <= set(buttons)
    cfg = read_png_config(download_bytes(buttons["Image (PNG + config)"]))
    assert cfg.size == 128 and cfg.steps == 6
    csv = download_bytes(buttons["Loss history (CSV)"]).decode()
    assert len(csv.strip().splitlines()) == 3  # header + two records


def test_resume_goes_on_from_the_stored_image_into_the_same_run(home, monkeypatch):
    me = token()
    run_id = stored_run(home, me, status="interrupted", evals=2, steps=6)
    at = gallery(untrained_app(monkeypatch, me))
    at.button(key=f"gal_resume_{run_id}").click().run()
    assert not errors(at)
    run = at.session_state.run
    assert run.evals == 2 and len(run.history) == 2 and not run.finished
    assert "optimizer restarts" in run.events[-1].text
    assert at.session_state.run_meta.store_id == run_id
    assert Store(home).get_run(run_id, me).status == "running"
    settle(at, lambda r: r.finished and Store(home).get_run(run_id, me).status == "done")
    assert run.status == "done" and run.evals == 6  # the worker stored its end
    stored = Store(home).get_run(run_id, me)
    assert stored.status == "done" and stored.evals == 6 and len(stored.history) == 6


def test_resume_shows_the_runs_own_photo_paintings_and_settings(home, monkeypatch):
    me = token()
    run_id = stored_run(home, me, status="interrupted", evals=2, steps=400)
    at = untrained_app(monkeypatch, me)
    at.sidebar.selectbox(key="content_name").set_value("astronaut")
    at.sidebar.multiselect(key="style_names").set_value(["mosaic"])
    at.sidebar.select_slider(key="cfg_size").set_value(192)
    at.sidebar.slider(key="cfg_style_strength").set_value(1.0).run()
    gallery(at).button(key=f"gal_resume_{run_id}").click().run()  # st.switch_page to Stylize
    assert not errors(at)
    run = at.session_state.run
    assert _inputs_shown(at) == ("cat", ["swirls"], 128)
    assert at.sidebar.slider(key="cfg_style_strength").value == 4.0
    assert at.session_state.config == run.config  # a pause and resume changes nothing
    at.button(key="btn_stop").click().run()


def test_no_resume_for_a_finished_run(home, monkeypatch):
    me = token()
    done = stored_run(home, me, status="done", evals=6, steps=6)
    stopped_at_end = stored_run(home, me, status="stopped", evals=6, steps=6)
    at = gallery(untrained_app(monkeypatch, me))
    keys = {b.key for b in at.button}
    assert f"gal_resume_{done}" not in keys and f"gal_resume_{stopped_at_end}" not in keys


def test_compare_lists_stored_basket_of_this_identity(home, monkeypatch):
    me = token()
    mine = stored_run(home, me, status="done")
    stored_run(home, token(), status="done")  # someone else's
    stored_run(home, me, status="interrupted")  # not finished
    at = untrained_app(monkeypatch, me)
    at.switch_page("pages/compare.py").run()
    assert not errors(at)
    labels = at.multiselect(key="cmp_runs").options
    assert len(labels) == 1 and "cat + swirls" in labels[0]
    assert not len(at.session_state.basket)  # read from the store, not copied into the session
    assert len(at.main.get("image")) == 1
    assert mine


def test_open_in_compare_adds_the_snapshot(home, monkeypatch):
    me = token()
    run_id = stored_run(home, me, status="interrupted")
    at = gallery(untrained_app(monkeypatch, me))
    at.button(key=f"gal_cmp_{run_id}").click().run()
    assert not errors(at)
    snap = at.session_state.basket[-1]
    assert snap.store_id == run_id and snap.status == "interrupted"
    assert snap.config.size == 128 and snap.final.total == 5.0
    assert snap.image.size == (128, 85) and snap.content == "cat"
    assert len(at.multiselect(key="cmp_runs").options) == 1


def _inputs_shown(at) -> tuple:
    sb = at.sidebar
    return (
        sb.selectbox(key="content_name").value,
        sb.multiselect(key="style_names").value,
        sb.select_slider(key="cfg_size").value,
    )


def test_gallery_to_compare_and_back_keeps_the_sidebars_photo_paintings_and_size(home, monkeypatch):
    me = token()
    run_id = stored_run(home, me, status="done")
    at = untrained_app(monkeypatch, me)
    at.sidebar.selectbox(key="content_name").set_value("cat")
    at.sidebar.multiselect(key="style_names").set_value(["mosaic"])
    at.sidebar.select_slider(key="cfg_size").set_value(192).run()
    chosen = ("cat", ["mosaic"], 192)
    gallery(at).button(key=f"gal_cmp_{run_id}").click().run()  # st.switch_page to Compare
    assert not errors(at) and at.multiselect(key="cmp_runs").options
    assert _inputs_shown(at) == chosen
    at.switch_page("pages/stylize.py").run()
    assert _inputs_shown(at) == chosen and at.session_state.config.size == 192


def test_a_reload_keeps_the_runs_blend_weights(home, monkeypatch):
    me = token()
    first = untrained_app(monkeypatch, me)
    first.sidebar.multiselect(key="style_names").set_value(["starry_night", "the_scream"]).run()
    first.sidebar.slider(key="blend_the_scream").set_value(0.5)
    small(first, steps=500)
    first.button(key="btn_start").click().run()
    run = first.session_state.run
    assert run.config.style_blend == (1.0, 0.5)
    again = untrained_app(monkeypatch, me)  # the reload: a new session, the same URL
    assert again.session_state.run is run
    assert again.sidebar.slider(key="blend_starry_night").value == 1.0
    assert again.sidebar.slider(key="blend_the_scream").value == 0.5
    assert again.session_state.config == run.config  # nothing reads as changed
    again.button(key="btn_stop").click().run()


def test_a_run_left_alone_is_let_go_and_saved_as_paused(home, monkeypatch):
    me = token()
    first = untrained_app(monkeypatch, me)
    small(first, steps=500)
    first.button(key="btn_start").click().run()
    first.run()
    run, store_id = first.session_state.run, first.session_state.run_meta.store_id
    monkeypatch.setenv("NST_LIVE_KEEP_SECONDS", "0")  # the tab closed long ago
    untrained_app(monkeypatch, token())  # any new session lets go of runs nobody looks at
    assert registry.get(me) is None and run.status == "paused"
    stored = Store(home).get_run(store_id, me)
    assert stored.status == "paused" and stored.evals == run.evals
    at = gallery(untrained_app(monkeypatch, me))  # back later: the Gallery offers to go on
    assert at.session_state.run is None
    assert at.button(key=f"gal_resume_{store_id}")
