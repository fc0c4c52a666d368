"""The version of musicnn_lite: the one place it is written (setup.py reads it from here)."""

__version__ = "1.0.0"
