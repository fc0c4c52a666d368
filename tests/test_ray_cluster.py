"""Tagging on a simulated two-node Ray cluster on this machine: work and results cross between nodes."""

import numpy as np
import psutil
import pyarrow.parquet as pq
import pytest
import ray
from ray.cluster_utils import Cluster

from musicnn_lite import Tagger
from musicnn_lite.labels import MTT_LABELS

from conftest import cut_clips, run_cli


@pytest.fixture(scope="module")
def two_nodes():
    """A head node without CPUs, where the driver runs, and a worker node where every actor must go."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    _, alive = psutil.wait_procs(psutil.Process().children(recursive=True), timeout=30)
    assert not alive, f"Ray processes left running: {alive}"


def test_the_command_line_on_a_two_node_cluster_tags_every_file_once_as_one_machine_does(two_nodes, tmp_path):
    assert len([node for node in ray.nodes() if node["Alive"]]) == 2
    clips = [str(clip) for clip in cut_clips(tmp_path / "music", seconds=3, copies=2)]
    out = tmp_path / "tags.parquet"
    done = run_cli(str(tmp_path / "music"), "-o", str(out), "--ray-address", two_nodes.address, "--quiet")
    assert done.returncode == 0, done.stderr
    rows = pq.read_table(out).to_pylist()
    assert sorted(row["path"] for row in rows) == sorted(clips)
    for path, result in Tagger("MTT_musicnn").tag_many(clips):
        row, = [row for row in rows if row["path"] == path]
        np.testing.assert_allclose([row[tag] for tag in MTT_LABELS], result.likelihoods, rtol=0, atol=1e-4)
