"""Compare: finished runs of this session side by side, with settings and final losses."""

import streamlit as st

from nst import explore
from ui import explore_ui as ex

st.title("Compare")
st.caption(
    "Every run you finish or stop is kept here (the last 12), so settings can be "
    "compared by their pictures and their losses."
)
runs = st.session_state.finished_runs
if not runs:
    st.info("No finished runs yet: finish or stop a run on the Stylize page.")
    st.stop()
labels = [
    f"#{i + 1}: {r['content']} + {', '.join(r['styles'])} ({r['evals']} steps)"
    for i, r in enumerate(runs)
]
chosen = st.multiselect("Runs", labels, default=labels[-4:], key="cmp_runs")
picked = [runs[labels.index(c)] for c in chosen]
if picked:
    cols = st.columns(min(4, len(picked)))
    for i, r in enumerate(picked):
        col = cols[i % len(cols)]
        col.image(r["image"], width="stretch", caption=chosen[i])
        final = r["final"]
        col.caption(
            f"{r['status']} · {r['seconds']:.1f} s · loss {final.total:.3g} "
            f"(content {final.content:.3g}, style {final.style:.3g})"
            if final
            else ""
        )
    keys = [
        "size",
        "steps",
        "optimizer",
        "lr",
        "alpha",
        "beta",
        "init",
        "tv_weight",
        "preserve_color",
        "pooling",
        "scales",
        "convention",
        "content_layer",
    ]
    table = []
    for key in keys:
        values = [r["config"].to_dict()[key] for r in picked]
        table.append(
            {
                "setting": key,
                **{
                    f"#{labels.index(c).__add__(1)}": str(v)
                    for c, v in zip(chosen, values, strict=True)
                },
                "differs": "●" if len({str(v) for v in values}) > 1 else "",
            }
        )
    st.dataframe(table, hide_index=True, width="stretch")
    sheet = explore.contact_sheet([r["image"] for r in picked], [c.split(" (")[0] for c in chosen])
    st.download_button(
        "Download a sheet of these (PNG)",
        ex.png(sheet),
        "nst_compare.png",
        "image/png",
        on_click="ignore",
        key="cmp_dl",
    )
