"""Compare: finished runs of this browser side by side, with settings and final losses."""

import streamlit as st

from nst.lab import compare, explore
from ui import explore_ui as ex
from ui import gallery_ui, resources

resources.through_entry()

st.title("Compare")
st.caption(
    "Every run you finish or stop is here (this session's, and your last 12 from the run store), "
    "so settings can be compared by their pictures and their losses."
)
runs = gallery_ui.compared_runs()
if not runs:
    st.info("No finished runs yet: finish or stop a run on the Stylize page.")
    st.stop()
# A run's number is its id in the run store, as the Gallery shows it (this session's position
# where no store is open).
numbers_all = [r.store_id or i + 1 for i, r in enumerate(runs)]
labels = [compare.label(n, r) for n, r in zip(numbers_all, runs, strict=True)]
chosen = st.multiselect("Runs", labels, default=labels[-4:], key="cmp_runs")
numbers = [numbers_all[labels.index(c)] for c in chosen]
picked = [runs[labels.index(c)] for c in chosen]
if picked:
    differs = compare.loss_differences(picked)
    if differs:
        st.warning(
            f"These runs differ in {', '.join(differs)}: their losses are measured on different "
            "scales and are not comparable. The pictures still are.",
            icon="⚠️",
        )
    cols = st.columns(min(4, len(picked)))
    captions = []
    for i, (r, name) in enumerate(zip(picked, chosen, strict=True)):
        col = cols[i % len(cols)]
        col.image(r.image, width=r.image.width, caption=name)  # actual pixels
        final = r.final
        cfg = r.config
        losses = (  # the total next to the weighted terms it adds up
            f"loss {final.total:.3g} = α·content {cfg.alpha * final.content:.3g} "
            f"+ β·style {compare.record_beta(final, cfg) * final.style:.3g}"
            if final
            else "no loss recorded"
        )
        col.caption(f"{r.status} · {r.seconds:.1f} s · {losses}")
        changed = compare.changes_text(r.changes)
        if changed:
            col.caption(f"Changed mid-run: {changed}")
        captions.append(f"{name}\n{losses}")
    table = compare.settings_table(picked, [f"#{n}" for n in numbers])
    table.sort(key=lambda row: not row["differs"])  # what differs first, then the rest in order
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption("Settings as at the end of each run; ● marks those that differ, listed first.")
    sheet = explore.contact_sheet([r.image for r in picked], captions, title="Compared runs")
    st.download_button(
        "Download a sheet of these (PNG)",
        ex.png(sheet),
        "nst_compare.png",
        "image/png",
        on_click="ignore",
        key="cmp_dl",
    )
