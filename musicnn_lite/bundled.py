"""Where the files bundled with the package are: the weights of its models and their constants.

Installed, they live in the package (musicnn_lite/weights); in a source checkout they sit in
the top-level weights/ folder beside the package.
"""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = next((d for d in (_PACKAGE_DIR / "weights", _PACKAGE_DIR.parent / "weights") if d.is_dir()),
                   _PACKAGE_DIR / "weights")
