"""beets plugin: tag the songs of a beets library with musicnn_lite, and find songs that sound alike.

Enable it with `plugins: musicnn` in the beets configuration. `beet musicnn [QUERY]` stores,
for each matching item without results, flexible attributes whose names start with `musicnn_`:
the top tags, one likelihood per tag, the model, the library version and a song embedding.
`beet musicnn-similar QUERY` ranks the other items by the cosine similarity of their embeddings.
"""

import base64
import re
import sqlite3
from collections.abc import Iterable

import confuse
import numpy as np
from beets import ui
from beets.dbcore import types
from beets.library import Item, Library
from beets.logging import getLogger
from beets.plugins import BeetsPlugin
from beets.util import displayable_path

import musicnn_lite
from musicnn_lite import MusicnnError, Tagger, TagResult, heads
from musicnn_lite.embeddings import song_embedding
from musicnn_lite.errors import file_error_line
from musicnn_lite.head_file import base_model
from musicnn_lite.labels import LABELS_BY_DATASET
from musicnn_lite.progress import Progress
from musicnn_lite.validators import tag_count

PREFIX = "musicnn_"
TOP_FIELD = PREFIX + "top"
log = getLogger("beets")  # beets' logger, whose handler prints every plugin's lines

# Model tag -> genre, for `write: yes`. Only tags that name a genre; others (instruments,
# voices, moods, decades) are left out. Users add or override entries (a head's tags as
# HEAD:TAG); '' drops one.
GENRES = {
    # MagnaTagATune (MTT_* models)
    "classical": "Classical", "techno": "Techno", "electronic": "Electronic", "rock": "Rock",
    "ambient": "Ambient", "indian": "Indian", "opera": "Opera", "pop": "Pop", "new age": "New Age",
    "dance": "Dance", "country": "Country", "metal": "Metal", "choral": "Choral",
    # Million Song Dataset (MSD_* models)
    "alternative": "Alternative", "indie": "Indie", "alternative rock": "Alternative Rock", "jazz": "Jazz",
    "chillout": "Chillout", "classic rock": "Classic Rock", "soul": "Soul", "indie rock": "Indie Rock",
    "electronica": "Electronica", "folk": "Folk", "punk": "Punk", "blues": "Blues", "hard rock": "Hard Rock",
    "experimental": "Experimental", "Hip-Hop": "Hip-Hop", "easy listening": "Easy Listening", "funk": "Funk",
    "electro": "Electro", "heavy metal": "Heavy Metal", "Progressive rock": "Progressive Rock",
    "rnb": "R&B", "indie pop": "Indie Pop", "House": "House",
    # MTG-Jamendo (Jamendo_* models): its genre--- tags
    **{f"genre---{tag}": genre for tag, genre in {
        "alternative": "Alternative", "ambient": "Ambient", "atmospheric": "Atmospheric", "chillout": "Chillout",
        "classical": "Classical", "dance": "Dance", "downtempo": "Downtempo", "easylistening": "Easy Listening",
        "electronic": "Electronic", "experimental": "Experimental", "folk": "Folk", "funk": "Funk",
        "hiphop": "Hip-Hop", "house": "House", "indie": "Indie", "instrumentalpop": "Instrumental Pop",
        "jazz": "Jazz", "lounge": "Lounge", "metal": "Metal", "newage": "New Age", "orchestral": "Orchestral",
        "pop": "Pop", "popfolk": "Pop Folk", "poprock": "Pop Rock", "reggae": "Reggae", "rock": "Rock",
        "soundtrack": "Soundtrack", "techno": "Techno", "trance": "Trance", "triphop": "Trip-Hop", "world": "World",
    }.items()},
}


def tag_field(tag: str) -> str:
    """The flexible attribute holding a tag's likelihood: 'no vocals' -> 'musicnn_no_vocals'."""
    return PREFIX + re.sub(r"[^0-9a-z]+", "_", tag.lower()).strip("_")


def encode_embedding(result: TagResult, layer: str) -> str:
    """A song's embedding (embeddings.song_embedding: one value per channel) at unit length, as base64 float32."""
    embedding = song_embedding(result.features[layer])
    return base64.b64encode((embedding / np.linalg.norm(embedding)).astype("<f4").tobytes()).decode("ascii")


def decode_embedding(text: str) -> np.ndarray:
    """The embedding stored by encode_embedding, (values,) float32."""
    return np.frombuffer(base64.b64decode(text), "<f4")


def result_fields(result: TagResult, model_name: str, stored_tags: Iterable[str], top_n: int,
                  layer: str | None) -> dict[str, str | float]:
    """The flexible attributes that hold one song's result."""
    likelihoods = dict(zip(result.tags, result.likelihoods.tolist()))
    fields = {TOP_FIELD: ", ".join(result.top(top_n)), PREFIX + "model": model_name,
              PREFIX + "version": musicnn_lite.__version__}
    for head, likeliest in zip(result.heads, result.top_head_tags()):  # "mood:happy" -> musicnn_mood = "happy"
        fields[tag_field(head)] = likeliest[len(head) + 1:]
    fields.update((tag_field(tag), likelihoods[tag]) for tag in stored_tags)
    if layer:
        fields[PREFIX + layer] = encode_embedding(result, layer)
    return fields


def unstorable(fields: dict[str, str | float]) -> str | None:
    """Why `fields` cannot be stored (text SQLite cannot take, a number that is not finite), or None."""
    for field, value in fields.items():
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{field} would hold text that is not valid Unicode ({value!r})"
        elif isinstance(value, float) and not np.isfinite(value):
            return f"{field} would be {value}"
    return None


def genres_of(top: list[str], genres: dict[str, str]) -> list[str]:
    """The genres that the top tags map to, in order, each once."""
    return list(dict.fromkeys(genres[tag] for tag in top if genres.get(tag)))


def store(item: Item, fields: dict[str, str | float], genres: list[str], write_file: bool) -> None:
    """Replace the item's musicnn attributes by `fields`, set its genres if any, save it (and its file).

    musicnn_top, which marks an item as tagged, is removed first and stored last, on its own
    (beets keeps what a store wrote before it failed): an item whose store fails part way is
    tagged again by the next run, never taken for tagged with a part of its results.
    """
    if TOP_FIELD in item:
        del item[TOP_FIELD]
        item.store()
    for field in [field for field in item.keys() if field.startswith(PREFIX)]:
        del item[field]  # results of an earlier run, maybe of another model or with other tags
    item.update({field: value for field, value in fields.items() if field != TOP_FIELD})
    if genres:
        item.genres = genres
    item.store()
    item[TOP_FIELD] = fields[TOP_FIELD]
    item.store()
    if write_file:
        item.try_write()


class MusicnnPlugin(BeetsPlugin):
    """`beet musicnn`, `beet musicnn-similar`, and (with `auto: yes`) tagging on import."""

    def __init__(self) -> None:
        super().__init__()
        self.config.add({
            "model": None,  # a bundled model name or a weights file; default: the heads' model, or MTT_musicnn
            "heads": [],  # head files (`python -m musicnn_lite.train`) whose tags are stored too
            "topN": 3,  # tags kept in musicnn_top, most likely first
            "tags": "all",  # or a list of the tags (the model's, and heads' as HEAD:TAG) whose likelihoods are stored
            "embedding": "penultimate",  # layer stored for musicnn-similar, e.g. max_pool; null: none
            "batch_size": 4,
            "jobs": 2,  # audio decoding threads
            "auto": False,  # tag on import
            "write": False,  # also set `genres` from the top tags and heads' tags (mapped below), write file tags
            "genres": GENRES,
        })
        self._tagger: Tagger | None = None
        self._heads: tuple[heads.Head, ...] | None = None
        try:
            head_tags = [f"{head.name}:{tag}" for head in self.heads() for tag in head.tags]
        except (ui.UserError, confuse.ConfigError):
            head_tags = []  # reported when tagging, not by every beet command
        # The fields of likelihoods (field -> tag), typed as numbers so that range queries work:
        # `beet ls musicnn_techno:0.5..`.
        model_tags = [tag for labels in LABELS_BY_DATASET.values() for tag in labels]
        self.likelihood_fields = {tag_field(tag): tag for tag in (*model_tags, *head_tags)}
        self.item_types = {field: types.Float(3) for field in self.likelihood_fields}
        self.import_stages = [self.imported]

    def commands(self) -> list[ui.Subcommand]:
        tag = ui.Subcommand("musicnn", help="tag items with musicnn_lite (those without results)")
        tag.parser.add_option("-f", "--force", action="store_true", default=False,
                              help="tag again the items that already have results")
        tag.parser.add_option("-w", "--write", action="store_true", default=None,
                              help="also set genres from the top tags and write the files' tags")
        tag.parser.add_option("-W", "--nowrite", action="store_false", dest="write",
                              help="store musicnn results in the library only (default unless musicnn.write)")
        tag.parser.usage += " [QUERY]"
        tag.func = self.tag_command
        similar = ui.Subcommand("musicnn-similar", help="list the items that sound most like one item")
        similar.parser.add_option("-n", "--count", type="int", default=10, help="how many items to list")
        similar.parser.add_format_option(target=Item)
        similar.parser.usage += " QUERY"
        similar.func = self.similar_command
        return [tag, similar]

    def tag_command(self, lib: Library, opts, args: list[str]) -> None:
        items = [item for item in lib.items(args) if opts.force or TOP_FIELD not in item]
        write = self.config["write"].get(bool) if opts.write is None else opts.write
        self.tag_items(items, set_genres=write, write_files=write, progress=True)

    def imported(self, session, task) -> None:
        """Import stage, with `auto: yes`: tag the new items; their files are written by the importer, if at all."""
        if not self.config["auto"].get(bool):
            return
        items = [item for item in task.imported_items() if TOP_FIELD not in item]
        self.tag_items(items, set_genres=self.config["write"].get(bool), write_files=False, progress=False)

    def tag_items(self, items: list[Item], set_genres: bool, write_files: bool, progress: bool) -> None:
        """Tag `items`, storing each item's results as soon as it is done; log and skip failures."""
        if not items:
            self._log.info("nothing to tag: every matching item has musicnn results (--force tags them again)")
            return
        tagger = self.tagger()
        stored_tags, top_n, layer = self.checked_options(tagger)
        genres = self.config["genres"].get(confuse.MappingValues(str)) if set_genres else {}
        try:
            plan = tagger.plan(features=[layer] if layer else False)
            results = tagger.tag_many([item.path for item in items], jobs=self.config["jobs"].get(int), plan=plan)
        except MusicnnError as error:  # a bad `embedding` layer or `jobs`, found before any file is read
            raise ui.UserError(f"musicnn: {error}") from None
        from tqdm.contrib.logging import logging_redirect_tqdm

        tagged = 0
        with Progress(len(items), show=progress, unit="song") as bar, \
                logging_redirect_tqdm([log]):  # log lines go above the bar, not through it
            for item, (_, result) in zip(items, results):
                if isinstance(result, MusicnnError):
                    self._log.error("skipped: {}", file_error_line(displayable_path(item.path), result))
                    bar.advance()
                else:
                    fields = result_fields(result, tagger.model_name, stored_tags, top_n, layer)
                    problem = unstorable(fields)
                    if problem:
                        self._log.error("skipped: {}: {}", displayable_path(item.path), problem)
                    else:
                        try:
                            store(item, fields, genres_of(result.top(top_n) + result.top_head_tags(), genres),
                                  write_files)
                        except sqlite3.Error as error:
                            raise ui.UserError(f"musicnn: cannot store the results of {displayable_path(item.path)} "
                                               f"in the library ({error}); the {tagged} items stored before it are "
                                               "kept: run `beet musicnn` again once that is mended") from None
                        tagged += 1
                    bar.advance(len(result.taggram) * plan.step_seconds)
        self._log.info("tagged {} of {} items with {}", tagged, len(items), tagger.model_name)

    def heads(self) -> tuple[heads.Head, ...]:
        """The configured heads, read once (paths relative to the beets configuration's folder)."""
        if self._heads is None:
            try:
                self._heads = tuple(heads.load(path.as_filename()) for path in self.config["heads"].sequence())
            except MusicnnError as error:
                raise ui.UserError(f"musicnn: heads: {error}") from None
        return self._heads

    def tagger(self) -> Tagger:
        """The configured model and heads, built on first use (tagging nothing never loads a model)."""
        if self._tagger is None:
            loaded = self.heads()
            try:
                model = base_model(loaded, self.config["model"].get())
                self._tagger = Tagger(model, batch_size=self.config["batch_size"].get(int), heads=loaded)
            except MusicnnError as error:
                raise ui.UserError(f"musicnn: {error}") from None
        return self._tagger

    def checked_options(self, tagger: Tagger) -> tuple[list[str], int, str | None]:
        """(tags whose likelihoods are stored, topN, embedding layer), checked against the model and heads."""
        try:
            top_n = tag_count("topN", self.config["topN"].get(int), len(tagger.labels))
        except MusicnnError as error:
            raise ui.UserError(f"musicnn: {error}") from None
        tags = tagger.tags if self.config["tags"].get() == "all" else self.config["tags"].as_str_seq()
        unknown = [tag for tag in tags if tag not in tagger.tags]
        if unknown:
            raise ui.UserError(f"musicnn: tags: {tagger.model_name} and its heads have no tag {unknown[0]!r}; "
                               f"use 'all' or some of: {', '.join(tagger.tags)}")
        layer = self.embedding_layer()
        text_fields = [TOP_FIELD, PREFIX + "model", PREFIX + "version", *([PREFIX + layer] if layer else []),
                       *(tag_field(head.name) for head in tagger.heads)]
        fields = text_fields + [tag_field(tag) for tag in tags]
        clash = next((field for field in fields if fields.count(field) > 1), None)
        if clash:
            raise ui.UserError(f"musicnn: two results would be stored as {clash}; rename the head file "
                               "whose name or tags make that name, or leave the tag out of `tags`")
        typed = next((field for field in text_fields if field in self.likelihood_fields), None)
        if typed:  # beets would show the text as 0.000, and no query would find it
            raise ui.UserError(f"musicnn: {typed} holds the likelihood of the tag "
                               f"{self.likelihood_fields[typed]!r}, a number, so it cannot hold text too; rename the "
                               "head file whose name makes that field")
        return tags, top_n, layer

    def embedding_layer(self) -> str | None:
        """The layer whose song embedding is stored (`embedding`), or None."""
        return self.config["embedding"].get(confuse.Optional(str)) or None

    def similar_command(self, lib: Library, opts, args: list[str]) -> None:
        layer = self.embedding_layer()
        if not layer:
            raise ui.UserError("musicnn-similar needs song embeddings: set musicnn.embedding "
                               "(e.g. penultimate), then run `beet musicnn --force`")
        field = PREFIX + layer
        matches = list(lib.items(args))
        if len(matches) != 1:
            raise ui.UserError(f"musicnn-similar: the query matches {len(matches)} items; make it match one")
        song, = matches
        if field not in song:
            raise ui.UserError(f"musicnn-similar: {displayable_path(song.path)} has no {field}; "
                               "run `beet musicnn` on it first")
        others = [item for item in lib.items() if field in item and item.id != song.id
                  and item.get(PREFIX + "model") == song[PREFIX + "model"]]
        if not others:
            self._log.info("no other item has a {} embedding; run `beet musicnn`", song[PREFIX + "model"])
            return
        query = decode_embedding(song[field])
        similarity = np.stack([decode_embedding(item[field]) for item in others]) @ query
        for index in np.argsort(-similarity)[:opts.count]:
            ui.print_(f"{similarity[index]:.3f}  {format(others[index])}")
