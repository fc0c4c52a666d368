"""Tag a catalog with Ray Data: files stream through a pool of actors, each holding one Tagger.

    import musicnn_lite.ray
    rows = musicnn_lite.ray.tag("music/", model="MSD_musicnn", features=["penultimate"])
    rows.write_parquet("tags.parquet")   # or "s3://bucket/tags", through pyarrow's filesystems

The same code runs on a laptop (Ray starts locally on first use) and on a cluster (after
`ray.init(address=...)`). Each actor loads the model once and tags batches of files; a file
that cannot be tagged is a row with status "error", never a failed job. An actor that dies
is restarted and its unfinished batches are run again (Ray Data's actor pools use
max_restarts=-1 and max_task_retries=-1); a batch's rows are kept only from the run that
finished, so each file gets one row. Rows come in no particular order.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import ray
import ray.data

from .embeddings import feature_widths
from .errors import MusicnnError
from .files import audio_files
from .head_file import Head, HeadOrPath
from .plan import FeatureRequest, PatchPlan
from .results.parquet_file import result_row, result_schema, rows_table
from .validators import positive_int, tag_count

if TYPE_CHECKING:
    from .tagger import Tagger

PathSource = str | os.PathLike | Iterable[str | os.PathLike] | ray.data.Dataset


def tag(source: PathSource, model: str | os.PathLike = "MTT_musicnn", *, features: FeatureRequest = (),
        top_n: int = 3, input_length: float | None = None, input_overlap: float | bool = False,
        files_per_batch: int = 4, concurrency: int | tuple[int, int] | None = None, num_cpus: float = 1,
        num_gpus: float = 0, batch_size: int = 4, precision: str = "float32", runtime: str = "auto",
        heads: HeadOrPath | Iterable[HeadOrPath] = ()) -> ray.data.Dataset:
    """A Dataset of result rows (see musicnn_lite.results.parquet_file), one per file of `source`.

    source: a path, folder or glob pattern, or a list of them (expanded here, as the command line
    does: the files must be readable at the same path on every node); or a ray.data.Dataset with
    a "path" column and, optionally, a "bytes" column holding each file's contents (what
    `ray.data.read_binary_files(..., include_paths=True)` makes, e.g. from object storage).
    model, features, top_n, input_length, input_overlap, batch_size (patches per network call),
    precision, runtime, heads: as for Tagger, Tagger.tag_many and the command line; each head's
    tags get a column "HEAD:TAG" after the model's (the heads are loaded here and sent to the
    actors, so head files need not be on the nodes).
    files_per_batch: files an actor tags per Ray task (what a retry repeats).
    concurrency: actors: a number, a (min, max) range to autoscale in, or None for 1 up to as
    many as the cluster's resources allow. num_cpus, num_gpus: reserved per actor; each actor's
    network computes on that many CPU threads (at least one), not one per core of its node.
    The options are checked here, before Ray runs anything; the rows are computed when the
    Dataset is consumed (written, iterated or materialized).
    """
    from .tagger import Tagger

    tagger = Tagger(model, batch_size=batch_size, precision=precision, runtime=runtime, heads=heads)
    plan = tagger.plan(input_length, input_overlap, features)
    top_n = tag_count("top_n", top_n, len(tagger.labels))
    files_per_batch = positive_int("files_per_batch", files_per_batch, "4")
    schema = result_schema(tagger.tags, feature_widths(tagger, plan.features))
    return tag_with(tagger, model, plan, source, top_n=top_n, schema=schema, files_per_batch=files_per_batch,
                    concurrency=concurrency, num_cpus=num_cpus, num_gpus=num_gpus)


def tag_with(tagger: Tagger, model: str | os.PathLike, plan: PatchPlan, source: PathSource, *, top_n: int,
             schema: pa.Schema, files_per_batch: int = 4, concurrency: int | tuple[int, int] | None = None,
             num_cpus: float = 1, num_gpus: float = 0) -> ray.data.Dataset:
    """`tag` for a Tagger of `model` and a plan already built and checked (the command line's), whose rows
    have `schema`: each actor builds a Tagger like it."""
    tagging = {"model": model, "batch_size": tagger.batch_size, "precision": tagger.precision,
               "runtime": tagger.runtime, "heads": tagger.heads, "threads": max(1, math.floor(num_cpus)),
               "plan": plan, "columns": tagger.tags, "top_n": top_n, "schema": schema}
    return _paths_dataset(source, files_per_batch).map_batches(
        _TagBatches, fn_constructor_kwargs=tagging, batch_size=files_per_batch, batch_format="pyarrow",
        compute=_actor_pool(concurrency), num_cpus=num_cpus, num_gpus=num_gpus)


class _TagBatches:
    """One actor's work: a Tagger built once when the actor starts, then batches of files -> result rows."""

    def __init__(self, model: str, batch_size: int, precision: str, runtime: str, heads: tuple[Head, ...],
                 threads: int, plan: PatchPlan, columns: list[str], top_n: int, schema: pa.Schema):
        from .tagger import Tagger

        self._tagger = Tagger(model, batch_size=batch_size, precision=precision, runtime=runtime, heads=heads,
                              threads=threads)
        self._plan, self._columns, self._top_n, self._schema = plan, columns, top_n, schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        sources = [io.BytesIO(data) for data in batch.column("bytes").to_pylist()] \
            if "bytes" in batch.column_names else paths
        results = self._tagger.tag_many(sources, plan=self._plan)
        rows = [result_row(path, result, self._tagger.model_name, self._columns, self._top_n)
                for path, (_, result) in zip(paths, results)]
        return rows_table(rows, self._schema)


def _paths_dataset(source: PathSource, files_per_batch: int) -> ray.data.Dataset:
    """`source` as a Dataset with a "path" column (and a "bytes" one if the source had it)."""
    if isinstance(source, ray.data.Dataset):
        columns = source.schema().names
        if "path" not in columns:
            raise MusicnnError(f"the Dataset has the columns {', '.join(columns)} but no 'path'; give it a 'path' "
                               "column of file paths, and the files' contents in 'bytes' if the actors cannot read "
                               "the paths (ray.data.read_binary_files(..., include_paths=True) makes both)")
        return source
    names = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths = audio_files([os.fspath(name) for name in names])
    if not paths:
        raise MusicnnError("no files to tag; give a file, a folder or a glob pattern")
    # One block per batch, so that the actors share the files evenly from the start.
    return ray.data.from_items([{"path": path} for path in paths],
                               override_num_blocks=math.ceil(len(paths) / files_per_batch))


def _actor_pool(concurrency: int | tuple[int, int] | None) -> ray.data.ActorPoolStrategy:
    if concurrency is None:
        return ray.data.ActorPoolStrategy(min_size=1, max_size=None)
    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=concurrency)
