"""Which scikit-learn pipeline a custom-tag head should use, chosen by measurement.

    python benchmarks/head_pipelines.py

The "songs" are 6-s excerpts of the three reference clips in tests/data/audio (18 songs: 4, 4
and 10 per clip, so the tags are unbalanced), each tag being the clip it was cut from, heard
clean and under white noise at 0 dB and -10 dB signal-to-noise ratio (the noise makes the task
hard enough for the pipelines to differ). Embeddings: MSD_musicnn `max_pool` (753 per patch),
one 3-s patch a second. Each pipeline is scored by song-grouped 5-fold cross-validation, as
musicnn_lite.heads.train scores a head: the song's tag is the argmax of its patches' mean score.
Printed: song accuracy, balanced song accuracy, patch-level log loss (for pipelines with
probabilities) and the median fit time of one fold, per condition. Only open data in the
repository is used; a real catalogue will differ, so the choice rests on robustness, not on
a winner by a hair.
"""

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicnn_lite import Tagger  # noqa: E402
from musicnn_lite.audio import SAMPLE_RATE, load_audio  # noqa: E402

EXCERPT_SECONDS = 6
NOISE_DB = (None, 0, -10)  # signal-to-noise ratios; None: clean


def songs(noise_db: float | None, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """(tag, 16-kHz waveform) excerpts of each reference clip, with noise at `noise_db` SNR."""
    excerpts = []
    for clip in sorted((REPO / "tests" / "data" / "audio").iterdir()):
        audio = load_audio(clip)
        size = EXCERPT_SECONDS * SAMPLE_RATE
        for start in range(0, len(audio) - size + 1, size):
            excerpt = audio[start:start + size]
            if noise_db is not None:
                power = np.mean(excerpt ** 2) / 10 ** (noise_db / 10)
                excerpt = excerpt + rng.normal(0, np.sqrt(power), size).astype(np.float32)
                excerpt /= max(1.0, np.abs(excerpt).max())
            excerpts.append((clip.name.split("-")[0].split("_")[0], excerpt))
    return excerpts


def embeddings(tagger: Tagger, excerpts: list[tuple[str, np.ndarray]]):
    """Patch embeddings X (patches, 753), tag index y and song index (groups) per patch."""
    tags = sorted({tag for tag, _ in excerpts})
    results = tagger.tag_many([(waveform, SAMPLE_RATE) for _, waveform in excerpts],
                              input_overlap=1, features=["max_pool"])
    X, y, groups = [], [], []
    for song, ((tag, _), (_, result)) in enumerate(zip(excerpts, results)):
        patches = result.features["max_pool"]
        X.append(patches)
        y += [tags.index(tag)] * len(patches)
        groups += [song] * len(patches)
    return np.concatenate(X).astype(np.float64), np.array(y), np.array(groups)


def pipelines() -> dict:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    def lr(C=1.0, weights=None):
        return LogisticRegression(C=C, class_weight=weights, max_iter=2000)

    return {
        "LR (raw features)": lambda: make_pipeline(lr()),
        "std + LR C=1": lambda: make_pipeline(StandardScaler(), lr()),
        "std + LR C=1 balanced": lambda: make_pipeline(StandardScaler(), lr(weights="balanced")),
        "std + LR C=0.1 balanced": lambda: make_pipeline(StandardScaler(), lr(0.1, "balanced")),
        "std + LR C=10 balanced": lambda: make_pipeline(StandardScaler(), lr(10, "balanced")),
        "std + PCA 0.95 + LR balanced": lambda: make_pipeline(StandardScaler(), PCA(0.95), lr(weights="balanced")),
        "std + PCA 32 + LR balanced": lambda: make_pipeline(StandardScaler(), PCA(32, random_state=0),
                                                            lr(weights="balanced")),
        "std + linear SVM balanced": lambda: make_pipeline(StandardScaler(), LinearSVC(class_weight="balanced")),
        "std + PCA 32 + linear SVM balanced": lambda: make_pipeline(StandardScaler(), PCA(32, random_state=0),
                                                                    LinearSVC(class_weight="balanced")),
    }


def score(make, X, y, groups) -> tuple[float, float, float, float]:
    """Song accuracy, balanced song accuracy, patch log loss (nan without probabilities), fit seconds."""
    from sklearn.metrics import balanced_accuracy_score, log_loss
    from sklearn.model_selection import StratifiedGroupKFold

    patch_scores = np.zeros((len(y), y.max() + 1))
    fit_seconds = []
    for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(X, y, groups):
        model = make()
        start = time.perf_counter()
        model.fit(X[train], y[train])
        fit_seconds.append(time.perf_counter() - start)
        probabilistic = hasattr(model, "predict_proba")
        patch_scores[test] = model.predict_proba(X[test]) if probabilistic else model.decision_function(X[test])
    songs = np.unique(groups)
    truth = np.array([y[groups == song][0] for song in songs])
    predicted = np.array([patch_scores[groups == song].mean(axis=0).argmax() for song in songs])
    loss = log_loss(y, patch_scores) if probabilistic else float("nan")
    return ((predicted == truth).mean(), balanced_accuracy_score(truth, predicted), loss,
            float(np.median(fit_seconds)))


def main() -> None:
    rng = np.random.default_rng(0)
    tagger = Tagger("MSD_musicnn")
    data = {noise: embeddings(tagger, songs(noise, rng)) for noise in NOISE_DB}
    _, y, groups = data[None]
    counts = np.bincount([y[groups == song][0] for song in np.unique(groups)])
    print(f"{len(np.unique(groups))} songs per condition ({', '.join(map(str, counts))} per tag), "
          f"{len(y)} patches, 5 song-grouped folds\n")
    header = "| pipeline | " + " | ".join(f"{'clean' if n is None else f'{n} dB'}: acc / bal. acc / log loss"
                                          for n in NOISE_DB) + " | fit ms |"
    print(header)
    print("|" + " --- |" * (len(NOISE_DB) + 2))
    for name, make in pipelines().items():
        cells, fits = [], []
        for noise in NOISE_DB:
            accuracy, balanced, loss, fit = score(make, *data[noise])
            cells.append(f"{accuracy:.2f} / {balanced:.2f} / {loss:.2f}")
            fits.append(fit)
        print(f"| {name} | " + " | ".join(cells) + f" | {1000 * np.median(fits):.0f} |")


if __name__ == "__main__":
    main()
