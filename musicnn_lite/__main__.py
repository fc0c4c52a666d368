"""The command line in a process of its own: `python -m musicnn_lite` and the `musicnn-lite` script.

Both start here, so they start alike. `serve` as the first argument starts the tagging service
(musicnn_lite.service) instead of tagging files.
"""

import sys


def main() -> int:
    """Run the command line as a program; returns its exit status."""
    # Keras imports scikit-learn and matplotlib.pyplot whenever they are installed, for wrappers and
    # plots the command line never uses: about 1.2 s of its start-up on the Keras runtime, measured.
    # A program owns its process, so it hides them from it.
    for unused in ("sklearn", "matplotlib"):
        sys.modules.setdefault(unused, None)
    if sys.argv[1:2] == ["serve"]:  # the service; a file named serve is tagged as ./serve
        from .service.command import main as serve

        return serve(sys.argv[2:])
    from .cli import main as run_cli

    return run_cli()


if __name__ == "__main__":
    sys.exit(main())
