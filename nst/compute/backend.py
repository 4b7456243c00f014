"""Where runs and sweep cells compute: `local` (in this process, the default) or `ray` (a Ray
cluster, nst.compute.cluster). The pages and the command line ask here and get an object that
behaves the same either way: a run (nst.engine.run.Run or nst.compute.remote.RemoteRun) or an
nst.lab.sweep.Executor.

The dashboard uses Ray when NST_RAY_ADDRESS is set; `python -m nst sweep --backend ray` does
too (at NST_RAY_ADDRESS, else a local cluster started for the command).
"""

from __future__ import annotations

from PIL import Image

from nst.compute import cluster, remote
from nst.engine.config import Config
from nst.engine.model import VGGFeatures
from nst.engine.run import Run
from nst.lab.cells import Executor, LocalExecutor

BACKENDS = ("local", "ray")


def default() -> str:
    return "ray" if cluster.address() else "local"


def executor(name: str | None = None, model: VGGFeatures | None = None) -> Executor:
    """The sweep executor of backend `name` (default: `default()`). `model` serves local cells.
    ClusterError when Ray is missing or its cluster can't be reached."""
    if (name or default()) == "ray":
        return cluster.RayExecutor()
    return LocalExecutor(model)


def new_run(
    model: VGGFeatures, content: Image.Image, styles: list[Image.Image], config: Config
) -> Run | remote.RemoteRun:
    """A run of the dashboard: here on `model`, or in a Ray actor (its own copy of the network)
    when NST_RAY_ADDRESS is set. ValueError for settings the run can't take; ClusterError."""
    if default() == "ray":
        return remote.RemoteRun(content, styles, config)
    return Run(model, content, styles, config)
