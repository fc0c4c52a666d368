"""Rank the songs in a folder by how alike they sound to one song, using musicnn embeddings.

    python examples/similar_songs.py my_song.mp3 music/ --top 10

A song's embedding is the mean over its patches of one layer's output (by default
penultimate, 200 values per patch, of MSD_musicnn, whose tags are mostly genres); songs
are compared by the cosine similarity of their embeddings.
"""

import argparse
from pathlib import Path

import numpy as np

from musicnn_lite import MusicnnError, Tagger, TagResult

REFERENCE_CLIPS = Path(__file__).resolve().parent.parent / "tests/data/audio"
EXAMPLE_SONG = REFERENCE_CLIPS / "joram-moments_of_clarity-08-solipsism-59-88.mp3"
AUDIO_SUFFIXES = {".mp3", ".ogg", ".oga", ".opus", ".wav", ".flac", ".aif", ".aiff"}


def embedding(result: TagResult, feature: str) -> np.ndarray:
    """Unit-length song embedding: the feature's mean over patches, flattened."""
    mean = result.features[feature].mean(axis=0).ravel()
    return mean / np.linalg.norm(mean)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rank the songs in a folder by similarity to one song.")
    parser.add_argument("song", nargs="?", type=Path, default=EXAMPLE_SONG, help="song to match (default: a test clip)")
    parser.add_argument("folder", nargs="?", type=Path, default=REFERENCE_CLIPS, help="(default: the test clips)")
    parser.add_argument("--model", default="MSD_musicnn", help="(default: %(default)s)")
    parser.add_argument("--feature", default="penultimate", help="layer, e.g. max_pool (default: %(default)s)")
    parser.add_argument("--top", type=int, default=10, help="how many songs to list (default: %(default)s)")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder; pass the folder that holds the songs to rank")
    candidates = sorted(path for path in args.folder.iterdir()
                        if path.suffix.lower() in AUDIO_SUFFIXES and path.resolve() != args.song.resolve())
    try:
        tagger = Tagger(args.model)
        query = embedding(tagger.tag(args.song, features=[args.feature]), args.feature)
    except MusicnnError as error:
        parser.exit(1, f"error: {error}\n")

    similarities = {}
    for song, result in tagger.tag_many(candidates, features=[args.feature]):
        if isinstance(result, MusicnnError):
            print(f"skipped {song}: {result}")
        else:
            similarities[song] = float(embedding(result, args.feature) @ query)
    print(f"most like {args.song.name} ({args.model} {args.feature}, cosine similarity):")
    for song, similarity in sorted(similarities.items(), key=lambda item: -item[1])[:args.top]:
        print(f"{similarity:.3f}  {song.name}")


if __name__ == "__main__":
    main()
