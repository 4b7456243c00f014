"""Same results before and after a change: fixed-step fp32 runs through the command line of the
tree at ROOT, scored by that tree's own yardstick; run it on two checkouts and compare the lines.

    python bench/same_results.py /path/to/checkout     # ImageNet VGG-16 from ../shared/weights
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights" / "vgg16_features_imagenet.pth"
PAIRS = [
    ("tubingen", "starry_night", []),
    ("cat", "the_scream", ["--change", "10:style_strength=5"]),
    ("astronaut", "mosaic", ["--preset", "seed"]),
]


def main(root: str) -> None:
    sys.path.insert(0, root)
    os.environ.setdefault("NST_WEIGHTS", str(WEIGHTS))
    os.environ.update(NST_MODEL="vgg16", NST_HOME=tempfile.mkdtemp())
    try:  # the folders of nst/, or the flat layout before them
        from nst.engine.image import load_image
        from nst.engine.model import load_model
        from nst.lab.score import SeedScore
    except ImportError:
        from nst.image import load_image
        from nst.model import load_model
        from nst.score import SeedScore
    from nst import samples

    net = load_model("vgg16", os.environ["NST_WEIGHTS"])
    flags = ["--size", "128", "--steps", "25", "--precision", "fp32", "--quiet"]
    for photo, painting, extra in PAIRS:
        out, met = tempfile.mktemp(suffix=".png"), tempfile.mktemp(suffix=".json")
        argv = [sys.executable, "-m", "nst", photo, painting, "-o", out, *flags, "--metrics", met]
        env = {**os.environ, "PYTHONPATH": root}
        subprocess.run([*argv, *extra], cwd=root, check=True, env=env)
        m = json.loads(Path(met).read_text())
        img = Image.open(out).convert("RGB")
        content, style = load_image(samples.resolve(photo)), load_image(samples.resolve(painting))
        sc = SeedScore(net, content, style, max(img.size))
        pixels = hashlib.md5(np.asarray(img).tobytes()).hexdigest()[:10]
        print(
            f"{photo}+{painting}: run loss {m['final_loss']:.6g} beta {m['beta']:.6g} "
            f"seed loss of file {sc.image(img):.6g} content {sc.content_term_of(img):.6g} "
            f"pixels {pixels}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
