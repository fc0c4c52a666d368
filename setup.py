import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
README = (HERE / "README.md").read_text(encoding="utf-8")
VERSION = re.search(r'__version__ = "(.+)"', (HERE / "musicnn_lite" / "version.py").read_text()).group(1)

PYARROW = "pyarrow>=14"
EXTRAS = {
    "parquet": [PYARROW],
    "ray": ["ray[data]>=2.40", PYARROW],
    "notebooks": ["jupyterlab>=4", "ipykernel>=6"],
    "beets": ["beets>=2.14"],
    # `musicnn-lite serve`: the ASGI app, its server, multipart uploads; pyarrow reads a .parquet catalog.
    "serve": ["starlette>=0.40", "uvicorn>=0.30", "python-multipart>=0.0.18", PYARROW],
    # torch: reading the survey's .pth checkpoints in the converter (never to tag; not in "test": CI's
    # tests write and read a .pth only where torch is installed).
    "torch": ["torch>=2.0"],
}
# The tests' tools, and the extras they test (Ray in local mode, the beets plugin, the service). jax: the
# tests run the Keras runtime on the JAX backend too; psutil finds the Ray processes they kill and wait
# for; ruff: the style checks (ruff.toml), run by tests/test_layout.py; Playwright drives the system's
# chromium for the service's page (.ci/run installs it).
TEST = list(dict.fromkeys([
    "pytest>=7", "ruff>=0.6", "hypothesis>=6", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6", "build>=1",
    "jax>=0.4", "psutil>=5", "playwright>=1.40", *EXTRAS["ray"], *EXTRAS["beets"], *EXTRAS["serve"],
]))

setup(
    name="musicnn_lite",
    version=VERSION,
    description="Pretrained musicnn music-tagging models (MTT/MSD, musicnn and VGG) for current Python and Keras 3",
    long_description=README,
    long_description_content_type="text/markdown",
    license="ISC",
    python_requires=">=3.10",
    # The top-level weights/ folder is installed as the package's musicnn_lite/weights.
    packages=["musicnn_lite", "musicnn_lite.networks", "musicnn_lite.results", "musicnn_lite.service",
              "musicnn_lite.weights"],
    # The beets plugin: a module of beets' `beetsplug` namespace package, which has no __init__.py.
    py_modules=["beetsplug.musicnn"],
    package_dir={"musicnn_lite.weights": "weights"},
    package_data={"musicnn_lite.weights": ["*.npz", "*.onnx", "LICENSE", "LICENSE-survey", "README.md"],
                  "musicnn_lite.service": ["static/*.html", "static/*.js", "static/*.css"]},
    install_requires=[
        "onnxruntime>=1.17",
        "tensorflow>=2.16",  # the reference runtime, the exporter and the way to GPUs through Keras
        "tf2onnx>=1.16",  # the converter writes the ONNX graph of a user's checkpoint
        "librosa>=0.10",
        "numpy>=1.23",
        "soundfile>=0.12",
        "soxr>=0.3",
        "matplotlib>=3.5",
        "tqdm>=4.60",
        "av>=12",
        "scikit-learn>=1.1",
    ],
    extras_require={**EXTRAS, "test": TEST},
    entry_points={"console_scripts": ["musicnn-lite=musicnn_lite.__main__:main"]},
    classifiers=[
        "License :: OSI Approved :: ISC License (ISCL)",
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
    ],
)
