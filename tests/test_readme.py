"""The README's Python snippets run as pasted, from the clone's root, one after the other."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_python_snippets_run_from_the_clone_root(tmp_path):
    snippets = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(snippets) >= 5
    (tmp_path / "tests").symlink_to(REPO / "tests")  # the clone's root, without writing into it
    script = tmp_path / "snippets.py"
    # The .npz reading snippet reads what the README's folder command writes; make it first.
    setup = ("from musicnn_lite import cli\n"
             "assert cli.main(['tests/data/audio', '-o', 'taggrams.npz', '--features', 'max_pool', "
             "'penultimate', '--quiet']) == 0\n")
    script.write_text(setup + "\n".join(snippets), encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert " - techno\n - electronic\n - synth\n" in done.stdout  # top_tags printing the joram clip's tags
    assert "tests/data/audio/joram-moments_of_clarity-08-solipsism-59-88.mp3 ['techno', 'electronic', 'synth']" \
        in done.stdout.splitlines()  # tag_many over the clips
    assert re.search(r"^tests/data/audio/joram\S+ \((\d+), 50\) \(\1, 200\)$", done.stdout, re.M)  # the .npz read
