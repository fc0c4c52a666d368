"""musicnn-compatible functions: top_tags and extractor."""

import functools
import os
import sys
from collections.abc import Iterable

import numpy as np

from . import zoo
from .audio import AudioSource
from .head_file import Head, HeadOrPath, head_list
from .results.printout import print_and_save
from .tagger import Tagger
from .validators import tag_count


@functools.cache
def _cached_tagger(model: str, heads: tuple[str | Head, ...]) -> Tagger:
    return Tagger(model, heads=heads)


def get_tagger(model: str | os.PathLike = "MTT_musicnn", heads: HeadOrPath | Iterable[HeadOrPath] = ()) -> Tagger:
    """The process-wide Tagger for `model` and `heads` (Head objects or head file paths, each
    file read once), built on first use and reused after."""
    return _cached_tagger(zoo.model_id(model), head_list(heads))


def extractor(file_name: AudioSource, model: str | os.PathLike = "MTT_musicnn", input_length: float | None = None,
              input_overlap: float | bool = False, extract_features: bool = True, *, sr: float | None = None):
    """Taggram, tag names and (optionally) features of a song, as musicnn's extractor returns them.

    file_name: path, file object, or waveform array (then `sr`, its sample rate in Hz, is required).
    model: 'MTT_musicnn', 'MSD_musicnn', 'MTT_vgg', 'MSD_vgg' or the path of a converted weights file.
    input_length: seconds per patch; left out, the length the model was trained on (3 s for
        musicnn 0.1.0's models; only its musicnn models take other lengths).
    input_overlap: despite its name, the step between the starts of consecutive patches, in
        seconds, as in musicnn; False means one patch length (no overlap).
    Returns (taggram, tags, features), or (taggram, tags) when extract_features is False:
    taggram (patches, 50) in [0, 1]; tags, the 50 labels; features, layer name -> array
    with the patch on the first axis (musicnn models: timbral, temporal, cnn1, cnn2, cnn3,
    mean_pool, max_pool, penultimate; VGG models: pool1 .. pool5).
    """
    result = get_tagger(model).tag(file_name, sr=sr, input_length=input_length,
                                   input_overlap=input_overlap, features=bool(extract_features))
    if extract_features:
        return result.taggram, result.tags, result.features
    return result.taggram, result.tags


def top_tags(file_name: AudioSource, model: str | os.PathLike = "MTT_musicnn", topN: int = 3,
             input_length: float | None = None, input_overlap: float | bool = False, print_tags: bool = True,
             save_tags: str | os.PathLike | bool = False, *, sr: float | None = None,
             heads: HeadOrPath | Iterable[HeadOrPath] = ()) -> list[str]:
    """The topN most likely tags of a song (song level: taggram averaged over patches).

    Arguments as in `extractor`. print_tags prints them; save_tags, a path, appends a line
    `file,model,input_length=..,input_overlap=..,tag1,tag2,...` to that file, as musicnn does.
    heads: custom-tag heads (Head objects or head files) trained on `model`: the likeliest tag
    of each, as "HEAD:TAG", follows the topN.
    """
    tagger = get_tagger(model, heads)
    topN = tag_count("topN", topN, len(tagger.labels))
    plan = tagger.plan(input_length, input_overlap)
    result = tagger.tag(file_name, sr=sr, input_length=input_length, input_overlap=input_overlap)
    tags = result.top(topN) + result.top_head_tags()
    name = "<waveform array>" if isinstance(file_name, np.ndarray) else str(file_name)
    print_and_save(name, tags, tagger.model_name, plan.input_length, input_overlap, print if print_tags else None,
                   save_tags or None)
    sys.stdout.flush()
    return tags
