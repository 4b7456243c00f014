"""What the Stylize page explains: what the settings do to the picture, and what to do when no
pretrained network could be loaded."""

from __future__ import annotations

import streamlit as st

from nst.engine.config import field_help
from nst.engine.model import hub_checkpoint_path


def explain_settings() -> None:
    """What β and the layer weights do to the picture, for the class."""
    with st.expander("What the settings do to the picture"):
        st.markdown(
            """- **Style strength** (0 to 6): how far the picture goes from the photo to the
  painting. 0: the photo in the painting's colours. 6: the painting's strokes everywhere, and more
  style would change nothing. Each step of 1 is ten times the style weight β, counted from this
  run's own balance (the painting's distance from the photo's layout against the photo's distance
  from the painting's style), so a value means the same for any photo, painting and size.
- **Layer weights**: which sizes of texture the painting gives. `conv1_1` and `conv2_1` carry
  colour and fine grain; `conv3_1` small strokes; `conv4_1` and `conv5_1` large strokes and
  swirls. Set a layer to 0 to remove its textures (the Layer lab shows each layer alone).
- **Content layer**: where the photo's layout is kept. `conv4_2` (the paper's) keeps the shapes
  and lets the details go; a shallow one such as `conv2_2` keeps the photo almost exactly.
- **Start from**: noise gives the most painterly result and takes longest; the photo or the
  recoloured photo converge faster."""
        )


WEIGHTS_FILES = {  # torchvision's ImageNet checkpoints: name, size, where to get them
    "vgg19": ("vgg19-dcbb9e9d.pth", "548 MB"),
    "vgg16": ("vgg16-397923af.pth", "528 MB"),
}


def weights_help() -> None:
    """When no model could be loaded: say what is missing, how big it is, where to get it and
    where to put it; offer the untrained network meanwhile."""
    problem = st.session_state.get("model_problem")
    if not problem:
        return
    cfg = st.session_state.config
    arch = cfg.model if cfg else "vgg19"
    name, size = WEIGHTS_FILES.get(arch, WEIGHTS_FILES["vgg19"])
    folder = hub_checkpoint_path(arch).parent
    st.error(
        f"No pretrained {arch.upper()} network could be loaded, so this dashboard cannot stylize yet.",
        icon=":material/extension_off:",
    )
    st.markdown(
        f"""**To get the network** (once, on any computer with internet access): download
torchvision's ImageNet weights `{name}` ({size}) from
`https://download.pytorch.org/models/{name}`. Then, on this computer, either
1. copy the file into `{folder}` and reload this page, or
2. type the file's path into *Network and device → Weights* in the sidebar, or
3. ask whoever runs the server to start it with `NST_WEIGHTS=/path/to/{name}`."""
    )
    with st.expander("What went wrong, exactly"):
        st.code(problem[:1].upper() + problem[1:], language=None, wrap_lines=True)
    st.button(
        "Use the untrained network meanwhile (mechanics only)",
        key="btn_random",
        on_click=lambda: st.session_state.update(cfg_weights="random"),
        help=field_help("weights"),
    )
