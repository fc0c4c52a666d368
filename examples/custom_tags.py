"""Teach musicnn_lite your own tags from examples, then tag new songs with them.

    python examples/custom_tags.py                          # demo: genres cut from the test clips
    python examples/custom_tags.py EXAMPLES MUSIC --out mood.npz

EXAMPLES holds one folder of audio per tag (EXAMPLES/happy/, EXAMPLES/sad/, ...). The script
trains a head on MSD_musicnn embeddings, prints its cross-validated numbers, saves it, and
prints the likeliest custom tag of every song in MUSIC beside the model's top 3 tags. The demo
cuts the first 18 s of each test clip into 6-s training excerpts (a tag per clip) and tags the
next 9 s, which training never heard.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import soundfile

from musicnn_lite import MusicnnError, Tagger, heads
from musicnn_lite.audio import SAMPLE_RATE, load_audio
from musicnn_lite.files import audio_files

CLIPS = Path(__file__).resolve().parent.parent / "tests/data/audio"
DEMO_TAGS = {"techno": "joram-moments_of_clarity-08-solipsism-59-88.mp3", "blues": "TRWJAZW128F42760DD_test.mp3",
             "funk": "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"}


def write_demo(folder: Path) -> tuple[Path, Path]:
    """folder/examples/TAG/{0,1,2}.wav (seconds 0-18 of each clip) and folder/music/TAG.wav (18-27)."""
    for tag, clip in DEMO_TAGS.items():
        audio = load_audio(CLIPS / clip)
        (folder / "examples" / tag).mkdir(parents=True)
        for i in range(3):
            excerpt = audio[i * 6 * SAMPLE_RATE:(i + 1) * 6 * SAMPLE_RATE]
            soundfile.write(folder / "examples" / tag / f"{i}.wav", excerpt, SAMPLE_RATE)
        (folder / "music").mkdir(exist_ok=True)
        soundfile.write(folder / "music" / f"{tag}.wav", audio[18 * SAMPLE_RATE:27 * SAMPLE_RATE], SAMPLE_RATE)
    return folder / "examples", folder / "music"


def main() -> None:
    parser = argparse.ArgumentParser(description="Train custom tags from examples and tag songs with them.")
    parser.add_argument("examples", nargs="?", type=Path, help="one folder of audio per tag (default: the demo)")
    parser.add_argument("music", nargs="?", type=Path, help="folder of songs to tag (default: the demo)")
    parser.add_argument("--out", type=Path, default=Path("genre.npz"), help="head file (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as demo:
        examples, music = (args.examples, args.music) if args.music else write_demo(Path(demo))
        tagger = Tagger("MSD_musicnn")
        try:
            head = heads.train(examples, tagger)
            print(head.report())
            head.save(args.out)
        except MusicnnError as error:
            sys.exit(f"error: {error}")
        head = heads.load(args.out)  # named after its file: its tags read "genre:techno", ...
        tagged = Tagger("MSD_musicnn", heads=[head])
        for path, result in tagged.tag_many(audio_files([str(music)])):
            if isinstance(result, MusicnnError):
                print(f"skipped {path}: {result}", file=sys.stderr)
            else:
                print(f"{Path(path).name}: {result.top_head_tags()[0]} (model: {', '.join(result.top(3))})")


if __name__ == "__main__":
    main()
