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
    The options are checked here, before Ray runs anything, and the actors against the nodes of
    the cluster (Ray is started on this machine if it is not running yet); the rows are
    computed when the Dataset is consumed (written, iterated or materialized).
    """
    from .tagger import Tagger

    _check_actor_options(concurrency, num_cpus, num_gpus)
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
    _check_actor_options(concurrency, num_cpus, num_gpus)
    tagging = {"model": model, "batch_size": tagger.batch_size, "precision": tagger.precision,
               "runtime": tagger.runtime, "heads": tagger.heads, "threads": max(1, math.floor(num_cpus)),
               "plan": plan, "columns": tagger.tags, "top_n": top_n, "schema": schema}
    paths = _paths_dataset(source, files_per_batch)
    _check_cluster(concurrency, num_cpus, num_gpus)
    return paths.map_batches(
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
        """One row per file: tagged from its bytes, or from its path where it has no bytes; a row without a
        path is an error row (its path "")."""
        paths = batch.column("path").to_pylist()
        contents = batch.column("bytes").to_pylist() if "bytes" in batch.column_names else [None] * len(paths)
        sources = [path if data is None else io.BytesIO(data)
                   for path, data in zip(paths, contents) if path is not None]
        results = (result for _, result in self._tagger.tag_many(sources, plan=self._plan))
        rows = [result_row("", _NO_PATH, self._tagger.model_name, self._columns, self._top_n) if path is None
                else result_row(path, next(results), self._tagger.model_name, self._columns, self._top_n)
                for path in paths]
        return rows_table(rows, self._schema)


_NO_PATH = MusicnnError("this row of the Dataset has no path (null); give every row the path of its file, "
                        "which names its bytes")


def _paths_dataset(source: PathSource, files_per_batch: int) -> ray.data.Dataset:
    """`source` as a Dataset with a "path" column (and a "bytes" one if the source had it)."""
    if isinstance(source, ray.data.Dataset):
        schema = source.schema()
        columns = dict(zip(schema.names, schema.types))
        if "path" not in columns:
            raise MusicnnError(f"the Dataset has the columns {', '.join(columns)} but no 'path'; give it a 'path' "
                               "column of file paths, and the files' contents in 'bytes' if the actors cannot read "
                               "the paths (ray.data.read_binary_files(..., include_paths=True) makes both)")
        for name, holds, kind in (("path", _is_text, "strings"), ("bytes", _is_binary, "bytes")):
            if name in columns and not holds(columns[name]):
                raise MusicnnError(f"the Dataset's '{name}' column holds {columns[name]}, not {kind}; "
                                   "ray.data.read_binary_files(..., include_paths=True) makes the columns needed")
        return source
    names = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths = audio_files([os.fspath(name) for name in names])
    if not paths:
        raise MusicnnError("no files to tag; give a file, a folder or a glob pattern")
    # One block per batch, so that the actors share the files evenly from the start.
    return ray.data.from_items([{"path": path} for path in paths],
                               override_num_blocks=math.ceil(len(paths) / files_per_batch))


def _is_text(column_type: pa.DataType) -> bool:
    return pa.types.is_string(column_type) or pa.types.is_large_string(column_type) or pa.types.is_null(column_type)


def _is_binary(column_type: pa.DataType) -> bool:
    return pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type) or pa.types.is_null(column_type)


def _check_actor_options(concurrency: int | tuple[int, int] | None, num_cpus: float, num_gpus: float) -> None:
    """Raise MusicnnError unless `concurrency` is None, a number of actors or a (min, max) range, and num_cpus
    and num_gpus are resources Ray can reserve (finite, at least 0; GPUs above 1 whole)."""
    low, high = concurrency if isinstance(concurrency, tuple) and len(concurrency) == 2 else (concurrency,) * 2
    if concurrency is not None and not (_is_count(low) and _is_count(high) and low <= high):
        raise MusicnnError(f"concurrency={concurrency!r} must be a number of actors, at least 1, or a (min, max) "
                           "range of them such as (1, 8), or None: as many as the cluster allows")
    for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf \
                or (name == "num_gpus" and value > 1 and value != int(value)):
            raise MusicnnError(f"{name}={value!r} must be a number of at least 0 reserved per actor (a fraction, "
                               "or a whole number above 1), e.g. 1")


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_cluster(concurrency: int | tuple[int, int] | None, num_cpus: float, num_gpus: float) -> None:
    """Raise MusicnnError where no node could hold an actor, or the cluster not the fewest actors asked for:
    Ray would wait for such resources for ever. Starts Ray on this machine if it is not running yet."""
    if not ray.is_initialized():
        ray.init()  # as Ray Data would on first use
    nodes = [node["Resources"] for node in ray.nodes() if node["Alive"]]
    fewest = 1 if concurrency is None else concurrency[0] if isinstance(concurrency, tuple) else concurrency
    for option, resource, per_actor in (("num_cpus", "CPU", num_cpus), ("num_gpus", "GPU", num_gpus)):
        largest = max((node.get(resource, 0) for node in nodes), default=0)
        total = sum(node.get(resource, 0) for node in nodes)
        if per_actor > largest:
            raise MusicnnError(f"{option}={per_actor:g}: the largest node of the Ray cluster has {largest:g} "
                               f"{resource}, fewer than one actor needs; ask for {largest:g} or less per actor")
        if fewest * per_actor > total:
            raise MusicnnError(f"concurrency={concurrency!r}: {fewest} actors of {option}={per_actor:g} need "
                               f"{fewest * per_actor:g} {resource} in all, and the Ray cluster has {total:g}; ask "
                               f"for fewer actors, or less {resource} each")


def _actor_pool(concurrency: int | tuple[int, int] | None) -> ray.data.ActorPoolStrategy:
    if concurrency is None:
        return ray.data.ActorPoolStrategy(min_size=1, max_size=None)
    if isinstance(concurrency, tuple):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    return ray.data.ActorPoolStrategy(size=concurrency)
