"""Custom tags: a small classifier (a "head") on a model's embeddings, learned from folders of examples.

    head = heads.train("my_examples/", Tagger("MSD_musicnn"))   # my_examples/happy/*.mp3, my_examples/sad/*.ogg
    print(head.report())
    head.save("mood.npz")
    head = heads.load("mood.npz")
    head.song_scores(tagger.tag("song.mp3", features=[head.feature]).features[head.feature])

The head and its file format are head_file's; training is head_training's.
"""

from .head_file import Head, load
from .head_training import train

__all__ = ["Head", "load", "train"]
