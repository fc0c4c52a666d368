"""Tagging on a simulated two-node Ray cluster on this machine: work and results cross between nodes."""

import numpy as np
import psutil
import pytest
import ray
from ray.cluster_utils import Cluster

import musicnn_lite.ray as musicnn_ray
from musicnn_lite import Tagger
from musicnn_lite.labels import MTT_LABELS

from conftest import cut_clips


@pytest.fixture(scope="module")
def two_nodes():
    """A head node and a worker node of one CPU each, so that two one-CPU actors need both."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    _, alive = psutil.wait_procs(psutil.Process().children(recursive=True), timeout=30)
    assert not alive, f"Ray processes left running: {alive}"


def test_two_actors_on_two_nodes_tag_every_file_once_as_one_machine_does(two_nodes, tmp_path):
    assert len([node for node in ray.nodes() if node["Alive"]]) == 2
    clips = [str(clip) for clip in cut_clips(tmp_path, seconds=3, copies=2)]
    rows = musicnn_ray.tag(clips, files_per_batch=1, concurrency=2, num_cpus=1).take_all()
    assert sorted(row["path"] for row in rows) == sorted(clips)
    for path, result in Tagger("MTT_musicnn").tag_many(clips):
        row, = [row for row in rows if row["path"] == path]
        np.testing.assert_allclose([row[tag] for tag in MTT_LABELS], result.likelihoods, rtol=0, atol=1e-4)
