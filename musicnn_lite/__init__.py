"""musicnn_lite: pretrained musicnn music-tagging models, faithful to musicnn 0.1.0, fast and installable.

    from musicnn_lite import top_tags, extractor
    top_tags("song.mp3", model="MTT_musicnn", topN=5)
    taggram, tags, features = extractor("song.mp3", model="MSD_musicnn")

Importing the package does not import TensorFlow; the first model built does.
"""

from .api import extractor, get_tagger, top_tags
from .errors import MusicnnError
from .tag_result import TagResult
from .tagger import Tagger
from .version import __version__
from .zoo import BUNDLED_MODELS

__all__ = ["BUNDLED_MODELS", "MusicnnError", "TagResult", "Tagger", "__version__", "extractor", "get_tagger",
           "top_tags"]
