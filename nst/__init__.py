"""nst: a neural style transfer lab (Gatys, Ecker & Bethge, CVPR 2016) on a pretrained VGG.

Where things live:
  nst.engine    the network (`model`), images (`image`), the seed's loss functions (`losses`),
                the objective (`objective`), the bounded optimizers (`optim`), the run (`run`),
                every hyperparameter once (`config`), what a page may ask of a run (`contract`)
  nst.record    the run store (`store`), a stored run's life cycle (`recorded`), the files a run
                is exported as (`export`, `trace`)
  nst.lab       what the pages explain: feature maps and reconstructions (`explore`), a run's own
                objective for the pages (`view`), figures (`viz`), sweeps, the yardstick (`score`)
  nst.compute   where runs compute: this process or a Ray cluster (`backend`, `cluster`)
  nst.cli       `python -m nst`

The seed's four functions are also here by name: `from nst import style_loss` (nst.engine.losses).
Nothing in nst imports Streamlit.
"""

__version__ = "0.1.0"

SEED_FUNCTIONS = ("gram_matrix", "content_loss", "style_loss", "total_loss")


def __getattr__(name: str):
    # Lazy, so `import nst.record.store` does not load torch.
    if name in SEED_FUNCTIONS:
        from nst.engine import losses

        return getattr(losses, name)
    raise AttributeError(f"module 'nst' has no attribute {name!r}")
