import sys

# Keras imports scikit-learn and matplotlib.pyplot whenever they are installed, for wrappers
# and plots the command line never uses: about 1.2 s of its start-up, measured. This module
# runs only as `python -m musicnn_lite`, which owns its process, so it hides them from it.
for _unused in ("sklearn", "matplotlib"):
    sys.modules.setdefault(_unused, None)

from .cli import main  # noqa: E402  (after the lines above, which must come first)

sys.exit(main())
