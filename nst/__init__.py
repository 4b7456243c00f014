"""nst: a neural style transfer lab (Gatys, Ecker & Bethge, CVPR 2016) on a pretrained VGG.

The engine: `model` (VGG features with named layers), `image` (loading, pre/de-processing,
colour), `losses` (the seed's loss functions), `run` (the optimization, a step at a time),
`config` (every hyperparameter, defined once), `export` and `cli`. Nothing here imports Streamlit.
"""

__version__ = "0.1.0"
