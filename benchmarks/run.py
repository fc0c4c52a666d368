"""Benchmark musicnn_lite against the original musicnn 0.1.0 on this machine, in one run.

    python benchmarks/run.py            # full run (several minutes), writes benchmarks/results.md
    python benchmarks/run.py --quick    # short smoke run, prints the table only
    python benchmarks/run.py --checkout DIR --output FILE   # measure another checkout (e.g. a git worktree)

Every timing is taken in this same run, tools interleaved, because a shared machine is noisy:
the ratios are what to trust. musicnn 0.1.0 is installed (once) into benchmarks/.venv-musicnn.
Each end-to-end measurement is a fresh child process, timed from start to exit (interpreter,
imports and model load included) with its CPU time and peak RSS from os.wait4. The survey's models
(FCN, CRNN, musicnn of Won et al. 2020) are measured against their reference pipeline, librosa and
PyTorch (survey_reference.py), when torch is installed. See benchmarks/README.md.
"""

import argparse
import datetime
import functools
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from probes import MODEL, musicnn_patch_flops

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
VENV = BENCHMARKS / ".venv-musicnn"
CLIPS = sorted((REPO / "tests" / "data" / "audio").iterdir())
CLI_CLIP = REPO / "tests" / "data" / "audio" / "TRWJAZW128F42760DD_test.mp3"
SOTA = REPO.parent / "shared" / "reference" / "sota"  # the survey's checkpoints and golden outputs
SURVEY_MODELS = {"MTT_fcn": "mtat/fcn", "MTT_crnn": "mtat/crnn", "MTT_musicnn_2020": "mtat/musicnn"}  # -> checkpoint
SURVEY_BATCH = 4  # chunks per network call on both sides: musicnn_lite's default batch size
MUSICNN_REQUIREMENTS = ["tensorflow-cpu==2.15.1", "numpy<2", "librosa", "soundfile"]
LONG_SR = 44100  # the long files are 44.1 kHz stereo FLAC, like a ripped CD


@dataclass(frozen=True)
class Settings:
    """How much to measure: the full run, or --quick to check that everything works."""

    copies: int                  # copies of each reference clip in the folder
    rounds: int                  # folder runs per tool (median wall time)
    long_minutes: tuple[int, int]
    batch_sizes: tuple[int, ...]
    network_patches: int
    network_repeats: int
    matmul_repeats: int
    cli_repeats: int
    survey_chunks: int           # chunks per timing of a survey network


FULL = Settings(copies=12, rounds=2, long_minutes=(30, 60), batch_sizes=(1, 16, 32, 64),
                network_patches=64, network_repeats=5, matmul_repeats=10, cli_repeats=3, survey_chunks=16)
QUICK = Settings(copies=1, rounds=1, long_minutes=(1, 2), batch_sizes=(1, 16),
                 network_patches=16, network_repeats=1, matmul_repeats=2, cli_repeats=1, survey_chunks=4)


@dataclass(frozen=True)
class Child:
    """A finished child process: wall seconds, CPU seconds (user + sys, its threads and the children it
    waited for), peak resident memory (MiB), its RESULT line."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    result: dict | None


def run_child(command: list, env: dict | None = None, cwd: Path = REPO) -> Child:
    """Run a command to completion with its output captured; raise with its stderr tail if it fails."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([str(part) for part in command], stdout=out, stderr=err, cwd=cwd, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall_s = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited with {process.returncode}:\n{stderr[-3000:]}")
    results = [line.removeprefix("RESULT ") for line in stdout.splitlines() if line.startswith("RESULT ")]
    return Child(wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                 json.loads(results[-1]) if results else None)


def musicnn_env() -> dict:
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def musicnn_python() -> Path:
    """The interpreter of the musicnn 0.1.0 venv, created and installed on first use."""
    python = VENV / "bin" / "python"
    check = [python, "-c", "import importlib.metadata as m; m.version('musicnn'); m.version('tensorflow-cpu')"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    if sys.version_info >= (3, 12):
        sys.exit("musicnn 0.1.0 needs tensorflow-cpu 2.15.1, which has wheels for Python 3.9 to 3.11 only: "
                 f"run this script with one of those to create {VENV.relative_to(REPO)}")
    print(f"installing musicnn 0.1.0 into {VENV.relative_to(REPO)} (once; a few minutes)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
    pip = [python, "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + MUSICNN_REQUIREMENTS, check=True)
    subprocess.run(pip + ["--no-deps", "musicnn==0.1.0"], check=True)
    return python


@dataclass(frozen=True)
class LiteOptions:
    """What the musicnn_lite under test offers; the benchmark adapts to older and newer versions.

    checkout: the repository measured (its package first on PYTHONPATH, and the working directory of
    its children, which `python -m` puts before PYTHONPATH).
    """

    checkout: Path
    cli_output: bool     # `python -m musicnn_lite FOLDER --output PATH --quiet`
    cli_precision: bool  # `--precision bfloat16` on the CLI
    tagger_precision: bool  # Tagger(..., precision="bfloat16")
    runtimes: bool  # Tagger(..., runtime="onnx" | "keras") and `--runtime` on the CLI

    @property
    def configurations(self) -> list[tuple[str, str]]:
        """(runtime, precision) pairs to measure; "auto" where the version has no runtime choice."""
        precisions = ["float32", "bfloat16"] if self.tagger_precision else ["float32"]
        if not self.runtimes:
            return [("auto", precision) for precision in precisions]
        return [("onnx", "float32"), ("keras", "float32"), *(("keras", p) for p in precisions[1:])]

    @property
    def env(self) -> dict:
        """Environment for musicnn_lite children: the checkout's package, not an installed one."""
        return {**os.environ, "PYTHONPATH": str(self.checkout)}

    def run(self, command: list) -> Child:
        """A musicnn_lite child process, run on the checkout."""
        return run_child(command, self.env, self.checkout)


def lite_label(runtime: str, precision: str) -> str:
    return f"musicnn_lite {precision}" if runtime == "auto" else f"musicnn_lite {runtime} {precision}"


def lite_options(checkout: Path) -> LiteOptions:
    """Read the options from the CLI's --help and Tagger's signature (neither imports TensorFlow)."""
    def output_of(*args: str) -> str:
        return subprocess.run([sys.executable, *args], env={**os.environ, "PYTHONPATH": str(checkout)},
                              cwd=checkout, capture_output=True, text=True, check=True).stdout

    help_text = output_of("-m", "musicnn_lite", "--help")
    signature = output_of("-c", "import inspect, musicnn_lite; "
                                "print(*inspect.signature(musicnn_lite.Tagger).parameters)").split()
    return LiteOptions(checkout, "--output" in help_text and "--quiet" in help_text, "--precision" in help_text,
                       "precision" in signature, "runtime" in signature and "--runtime" in help_text)


def lite_command(target: Path, runtime: str, precision: str, options: LiteOptions, output: Path) -> list:
    """How a user tags a folder or a file with musicnn_lite: its CLI if it writes files, else a Tagger loop."""
    if options.cli_output and (precision == "float32" or options.cli_precision):
        extra_args = ([] if precision == "float32" else ["--precision", precision]) \
            + ([] if runtime == "auto" else ["--runtime", runtime])
        return [sys.executable, "-m", "musicnn_lite", target, "--output", output, "--quiet", *extra_args]
    files = sorted(target.iterdir()) if target.is_dir() else [target]
    return [sys.executable, BENCHMARKS / "probes.py", "lite-tag", "--precision", precision, "--runtime", runtime,
            *files]


def build_folder(folder: Path, copies: int) -> float:
    """Copy the reference clips `copies` times into `folder`; returns the total audio seconds."""
    folder.mkdir()
    for copy in range(copies):
        for clip in CLIPS:
            shutil.copy(clip, folder / f"{copy:02d}_{clip.name}")
    return audio_seconds(folder.iterdir())


def audio_seconds(files) -> float:
    """The total duration of audio files, in seconds."""
    import soundfile

    return sum(soundfile.info(path).duration for path in files)


def build_long_flac(path: Path, minutes: int) -> float:
    """Write the reference clips end to end, repeated, as a 44.1 kHz stereo FLAC of `minutes`."""
    import librosa
    import soundfile

    music = []
    for clip in CLIPS:
        audio, _ = librosa.load(clip, sr=LONG_SR, mono=False)
        music.append(np.broadcast_to(audio, (2, audio.shape[-1])).T)
    music = np.clip(np.concatenate(music), -1, 1)
    total = minutes * 60 * LONG_SR
    with soundfile.SoundFile(path, "w", LONG_SR, 2, "PCM_16", format="FLAC") as flac:
        for start in range(0, total, len(music)):
            flac.write(music[:total - start])
    return total / LONG_SR


@dataclass(frozen=True)
class Throughput:
    """End-to-end runs of one tool on one input."""

    input: str
    audio_s: float
    tool: str
    runs: list[Child]

    @property
    def wall_s(self) -> float:
        return statistics.median(run.wall_s for run in self.runs)

    @property
    def speed(self) -> float:
        """Audio seconds tagged per wall-clock second."""
        return self.audio_s / self.wall_s

    @property
    def cpu_s(self) -> float:
        return statistics.median(run.cpu_s for run in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(run.peak_rss_mib for run in self.runs)


def measure_throughput(settings: Settings, options: LiteOptions, musicnn: Path, work: Path) -> list[Throughput]:
    """The folder (rounds interleaved across tools), then the long files, each run a fresh process."""
    folder = work / "folder"
    folder_s = build_folder(folder, settings.copies)
    half_min, long_min = settings.long_minutes
    half, long = work / f"{half_min}min.flac", work / f"{long_min}min.flac"
    half_s, long_s = build_long_flac(half, half_min), build_long_flac(long, long_min)

    def musicnn_run(target: Path) -> Child:
        files = sorted(target.iterdir()) if target.is_dir() else [target]
        return run_child([musicnn, BENCHMARKS / "probes.py", "musicnn-tag", *files], musicnn_env())

    def lite_run(target: Path, runtime: str, precision: str) -> Child:
        return options.run(lite_command(target, runtime, precision, options, work / "tags.csv"))

    tools = {"musicnn 0.1.0": musicnn_run}
    for runtime, precision in options.configurations:
        tools[lite_label(runtime, precision)] = functools.partial(lite_run, runtime=runtime, precision=precision)
    _progress("musicnn 0.1.0 warm-up run (its first run after install compiles its TensorFlow)")
    musicnn_run(Path(CLI_CLIP))

    folder_label = f"folder: {len(list(folder.iterdir()))} files, {folder_s / 60:.1f} min"
    folder_runs = {tool: [] for tool in tools}
    for round_ in range(settings.rounds):
        for tool, run in tools.items():
            _progress(f"{folder_label}, {tool}, round {round_ + 1}")
            folder_runs[tool].append(run(folder))
    rows = [Throughput(folder_label, folder_s, tool, runs) for tool, runs in folder_runs.items()]

    for path, seconds, tool_names in ((long, long_s, list(tools)), (half, half_s, list(tools)[1:])):
        label = f"FLAC 44.1 kHz stereo, {seconds / 60:.0f} min"
        for tool in tool_names:
            _progress(f"{label}, {tool}")
            rows.append(Throughput(label, seconds, tool, [tools[tool](path)]))
    return rows


def measure_steady(settings: Settings, options: LiteOptions, musicnn: Path, work: Path) -> dict[str, float]:
    """tool -> audio seconds per second of tagging alone (start-up excluded), on the folder."""
    files = sorted((work / "folder").iterdir())
    audio_s = audio_seconds(files)
    commands = {"musicnn 0.1.0": functools.partial(
        run_child, [musicnn, BENCHMARKS / "probes.py", "musicnn-tag", *files], musicnn_env())}
    for runtime, precision in options.configurations:
        commands[lite_label(runtime, precision)] = functools.partial(options.run, [
            sys.executable, BENCHMARKS / "probes.py", "lite-tag", "--precision", precision, "--runtime", runtime,
            *files])
    speeds = {tool: [] for tool in commands}
    for round_ in range(settings.rounds):
        for tool, run in commands.items():
            _progress(f"steady state, {tool}, round {round_ + 1}")
            speeds[tool].append(audio_s / run().result["tagging_s"])
    return {tool: statistics.median(values) for tool, values in speeds.items()}


def measure_network(settings: Settings, options: LiteOptions) -> dict[tuple[str, str], dict[int, float]]:
    """(runtime, precision) -> batch size -> ms per patch, each in its own process."""
    timings = {}
    for runtime, precision in options.configurations:
        _progress(f"network alone, {runtime} {precision}")
        child = options.run([sys.executable, BENCHMARKS / "probes.py", "network", "--precision", precision,
                             "--runtime", runtime, "--batch-sizes", *settings.batch_sizes,
                             "--patches", settings.network_patches, "--repeats", settings.network_repeats])
        timings[runtime, precision] = {int(size): ms for size, ms in child.result["ms_per_patch"].items()}
    return timings


def measure_matmul(settings: Settings, dtypes: list[str]) -> dict[str, float]:
    _progress(f"matmul peak, {', '.join(dtypes)}")
    child = run_child([sys.executable, BENCHMARKS / "probes.py", "matmul", "--dtypes", *dtypes,
                       "--repeats", settings.matmul_repeats])
    return child.result["gflops"]


def measure_cli(settings: Settings, options: LiteOptions, musicnn: Path) -> dict[str, Child]:
    """Each tool's command line on one 30-s clip, whole process, runs interleaved: the median run.

    musicnn's command line runs once untimed first: its first run after install compiles its
    TensorFlow (bytecode), which would inflate its time.
    """
    musicnn_cli = f"python -m musicnn.tagger {CLI_CLIP.name} --print"
    commands = {
        musicnn_cli: functools.partial(run_child, [musicnn, "-m", "musicnn.tagger", CLI_CLIP, "--print"],
                                       musicnn_env()),
        f"python -m musicnn_lite {CLI_CLIP.name}": functools.partial(
            options.run, [sys.executable, "-m", "musicnn_lite", CLI_CLIP]),
    }
    if options.runtimes:
        commands[f"python -m musicnn_lite {CLI_CLIP.name} --runtime keras"] = functools.partial(
            options.run, [sys.executable, "-m", "musicnn_lite", CLI_CLIP, "--runtime", "keras"])
    _progress("musicnn command line, warm-up run")
    commands[musicnn_cli]()
    runs = {name: [] for name in commands}
    for repeat in range(settings.cli_repeats):
        for name, run in commands.items():
            _progress(f"{name}, run {repeat + 1}")
            runs[name].append(run())
    return {name: sorted(children, key=lambda child: child.wall_s)[len(children) // 2]
            for name, children in runs.items()}


@dataclass(frozen=True)
class Survey:
    """The survey's models against their reference pipeline on the folder, or why they were not measured."""

    rows: list[Throughput]                       # per model (the input): the reference's runs, then musicnn_lite's
    network_ms: dict[tuple[str, str], float]     # (model, tool) -> ms per chunk, batch SURVEY_BATCH
    chunks: dict[str, int]                       # model -> chunks in the folder
    reference_check: dict[str, dict[str, float]]  # checkpoint -> largest taggram / penultimate difference
    skipped: str = ""


def survey_skip_reason(options: LiteOptions) -> str:
    """Why the survey's models cannot be measured here ("" if they can)."""
    if subprocess.run([sys.executable, "-c", "import torch, librosa"], capture_output=True).returncode:
        return f"torch (or librosa) is not installed in {sys.executable}: pip install torch"
    if not all((options.checkout / "weights" / f"{model}.npz").exists() for model in SURVEY_MODELS):
        return f"the checkout measured has no {', '.join(SURVEY_MODELS)} (they came with issue 19)"
    if not (SOTA / "checkpoints").is_dir():
        return f"the survey's checkpoints are not in {SOTA / 'checkpoints'}"
    return ""


def measure_survey(settings: Settings, options: LiteOptions, work: Path) -> Survey:
    """FCN, CRNN and musicnn 2020 on the folder: the reference pipeline (survey_reference.py) against
    `python -m musicnn_lite FOLDER --model M`, fresh processes, rounds interleaved; then each network alone.

    The reference is checked against the golden outputs first, so that it computes what the original
    code does.
    """
    skipped = survey_skip_reason(options)
    if skipped:
        _progress(f"survey models skipped: {skipped}")
        return Survey([], {}, {}, {}, skipped)
    reference = [sys.executable, BENCHMARKS / "survey_reference.py"]
    _progress("survey reference pipeline against the golden outputs")
    checked = run_child([*reference, "check", "--sota", SOTA]).result["max_diff"]
    folder = work / "folder"
    files = sorted(folder.iterdir())
    audio_s = audio_seconds(files)
    rows, network_ms, chunks = [], {}, {}
    for model, checkpoint_dir in SURVEY_MODELS.items():
        checkpoint = SOTA / "checkpoints" / checkpoint_dir / "best_model.pth"
        tools = {
            "reference (librosa + PyTorch)": functools.partial(run_child, [*reference, "tag", "--checkpoint",
                                                                           checkpoint, *files]),
            "musicnn_lite": functools.partial(options.run, [sys.executable, "-m", "musicnn_lite", folder, "--model",
                                                            model, "--output", work / "survey.csv", "--quiet"]),
        }
        runs = {tool: [] for tool in tools}
        for round_ in range(settings.rounds):
            for tool, run in tools.items():
                _progress(f"survey folder, {model}, {tool}, round {round_ + 1}")
                runs[tool].append(run())
        chunks[model] = runs["reference (librosa + PyTorch)"][0].result["chunks"]
        rows += [Throughput(model, audio_s, tool, tool_runs) for tool, tool_runs in runs.items()]
        _progress(f"survey network alone, {model}")
        network_ms[model, "reference (librosa + PyTorch)"] = run_child(
            [*reference, "network", "--checkpoint", checkpoint, "--batch-size", SURVEY_BATCH,
             "--chunks", settings.survey_chunks, "--repeats", settings.network_repeats]).result["ms_per_chunk"]
        network_ms[model, "musicnn_lite"] = options.run(
            [sys.executable, BENCHMARKS / "probes.py", "network", "--model", model, "--batch-sizes", SURVEY_BATCH,
             "--patches", settings.survey_chunks, "--repeats", settings.network_repeats]
        ).result["ms_per_patch"][str(SURVEY_BATCH)]
    return Survey(rows, network_ms, chunks, checked)


def cpu_flags() -> set[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def machine(musicnn: Path, checkout: Path) -> dict[str, str]:
    """What was measured on: hardware, software on both sides, and the checkout's commit."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
               platform.processor())
    flags = " ".join(sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
    mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    lite_versions = ", ".join(f"{package} {importlib.metadata.version(package)}"
                              for package in ("onnxruntime", "tensorflow", "keras", "numpy", "librosa", "soundfile"))
    musicnn_versions = subprocess.run(
        [musicnn, "-c", "import importlib.metadata as m, platform; print(f'Python {platform.python_version()}, ' + "
                        "', '.join(p + ' ' + m.version(p) for p in "
                        "('musicnn', 'tensorflow-cpu', 'numpy', 'librosa', 'soundfile')))"],
        capture_output=True, text=True, check=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True,
                            text=True).stdout
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=checkout,
                           capture_output=True, text=True).stdout.strip()
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores ({flags})",
        "RAM": f"{mem_kib / 2 ** 20:.1f} GiB",
        "OS": platform.platform(),
        "musicnn_lite side": f"Python {platform.python_version()}, {lite_versions}",
        "musicnn side": musicnn_versions,
        "commit": (commit.strip() or "unknown (not a git checkout)") + (" with uncommitted changes" if dirty else "")
                  + ("" if checkout == REPO else f" (the checkout at {checkout}, measured by the benchmark of "
                                                 f"{REPO.name})"),
    }


def report(info: dict[str, str], options: LiteOptions, rows: list[Throughput], steady: dict[str, float],
           flops: dict[str, int], network: dict[tuple[str, str], dict[int, float]], peak: dict[str, float],
           cli: dict[str, Child], survey: Survey, quick: bool) -> str:
    """The results as markdown."""
    lines = [f"# musicnn_lite benchmark{' (--quick smoke run: small inputs, not representative)' if quick else ''}",
             "", "| | |", "| --- | --- |", *(f"| {key} | {value} |" for key, value in info.items()), ""]

    lines += ["## End to end: audio seconds tagged per wall-clock second",
              "Fresh process per run (interpreter start, imports and model load included), model "
              f"{MODEL}, 3-s patches. musicnn: `top_tags` per file in one process; musicnn_lite: "
              + ("`python -m musicnn_lite TARGET --output PATH --quiet`." if options.cli_output
                 else "`Tagger.tag_many` over the files in one process (the CLI has no `--output`/`--quiet` yet)."),
              "Wall and CPU time (user + sys, all threads) are medians over rounds; peak RSS the largest.", "",
              *throughput_table(rows, "musicnn ", "vs musicnn")]

    lines += ["", "## Survey models against their reference pipeline: the same folder",
              "Fresh process per run, rounds interleaved. Reference: `librosa.load(path, sr=16000)`, consecutive "
              "chunks (29 s for FCN and CRNN, 3 s for musicnn), each file's chunks in one batch through the "
              "published PyTorch checkpoint on CPU (benchmarks/survey_reference.py). musicnn_lite: "
              "`python -m musicnn_lite FOLDER --model M --output PATH --quiet` (ONNX Runtime). Network: ms per "
              f"chunk of the network alone on ready spectrograms, batch {SURVEY_BATCH}, median of repeats.", ""]
    if survey.skipped:
        lines += [f"Not measured: {survey.skipped}."]
    else:
        lines += ["The reference checked in this run against the golden outputs of the original code (three clips "
                  "and a 10-s one): largest taggram difference "
                  + ", ".join(f"{model} {survey.reference_check[checkpoint]['taggram']:.1e}"
                              for model, checkpoint in SURVEY_MODELS.items())
                  + f"; {max(found['taggram'] for found in survey.reference_check.values()):.1e} over all "
                  f"{len(survey.reference_check)} checkpoints.", "",
                  *throughput_table(survey.rows, "reference", "vs reference", survey.network_ms)]

    lines += ["", "## Steady state: the same folder, tagging alone",
              "The same tools in one process each, timed around the tagging loop only: after the imports, and "
              "for musicnn_lite after the model is built and traced on one file (musicnn builds its graph for "
              "every file, so that is part of its loop). Median over rounds.", "",
              "| tool | audio s / tagging s | vs musicnn |", "| --- | ---: | ---: |"]
    lines += [f"| {tool} | {speed:.1f} | {speed / steady['musicnn 0.1.0']:.2f}x |" for tool, speed in steady.items()]

    patch_flops = sum(flops.values())
    lines += ["", f"## Network alone: {MODEL}, ms per 3-s patch, by runtime",
              f"FLOPs per patch (2 x multiply-adds of every conv and dense layer): {patch_flops / 1e9:.3f} GFLOP "
              "(the issue says about 2.8). Matmul peak: TensorFlow `tf.linalg.matmul` of 2048 x 2048 in a "
              "`tf.function`, median of repeats, same run: "
              + ", ".join(f"{dtype} {gflops:,.0f} GFLOP/s" for dtype, gflops in peak.items()) + ".", "",
              "| runtime | precision | batch | ms / patch | patches / s | GFLOP/s | % of matmul peak |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for (runtime, precision), by_batch in network.items():
        for batch_size, ms in by_batch.items():
            gflops = patch_flops * 1000 / ms / 1e9
            share = f"{100 * gflops / peak[precision]:.0f}%" if precision in peak else "no peak measured"
            lines.append(f"| {runtime} | {precision} | {batch_size} | {ms:.2f} | {1000 / ms:.1f} | {gflops:.0f} | "
                         f"{share} |")

    lines += ["", "## Command line on one 30-s clip: whole process, median of runs",
              "musicnn's command line ran once, untimed, before these runs.", "",
              "| command | wall s | vs musicnn | peak RSS MiB |", "| --- | ---: | ---: | ---: |"]
    musicnn_cli = next(child.wall_s for name, child in cli.items() if "musicnn.tagger" in name)
    lines += [f"| `{name}` | {child.wall_s:.2f} | {musicnn_cli / child.wall_s:.1f}x | {child.peak_rss_mib:,.0f} |"
              for name, child in cli.items()]
    lines += ["", "## Targets of issues 9 and 19", "", "| target | measured | reached |", "| --- | ---: | --- |"]
    for target, measured, goal in targets(rows, cli) + survey_targets(survey.rows):
        lines.append(f"| {target} | {measured:.1f}x | {'yes' if measured >= goal else 'no'} |")
    return "\n".join(lines + [""])


def throughput_table(rows: list[Throughput], baseline_tool: str, ratio_name: str,
                     network_ms: dict[tuple[str, str], float] | None = None) -> list[str]:
    """Markdown table of end-to-end rows, each input's speed against its row whose tool starts with
    baseline_tool; with a network column if network_ms ((input, tool) -> ms per chunk) is given."""
    network_head = ("", "") if network_ms is None else (f" network ms / chunk, batch {SURVEY_BATCH} |", " ---: |")
    lines = [f"| input | tool | wall s | CPU s | audio s / wall s | {ratio_name} | peak RSS MiB |{network_head[0]}",
             f"| --- | --- | ---: | ---: | ---: | ---: | ---: |{network_head[1]}"]
    baseline = {row.input: row.speed for row in rows if row.tool.startswith(baseline_tool)}
    for row in rows:
        ratio = f"{row.speed / baseline[row.input]:.2f}x" if row.input in baseline else "n/a"
        network = "" if network_ms is None else f" {network_ms[row.input, row.tool]:.1f} |"
        lines.append(f"| {row.input} | {row.tool} | {row.wall_s:.1f} | {row.cpu_s:.1f} | {row.speed:.1f} | "
                     f"{ratio} | {row.peak_rss_mib:,.0f} |{network}")
    return lines


def survey_targets(rows: list[Throughput]) -> list[tuple[str, float, float]]:
    """(target, measured ratio to the reference pipeline, goal) for each survey model."""
    reference = {row.input: row.speed for row in rows if row.tool.startswith("reference")}
    return [(f"folder, {row.input} against its reference pipeline >= 2x", row.speed / reference[row.input], 2.0)
            for row in rows if row.tool == "musicnn_lite"]


def targets(rows: list[Throughput], cli: dict[str, Child]) -> list[tuple[str, float, float]]:
    """(target, measured ratio to musicnn, goal): the 30-s clip on the command line, the folder per precision."""
    musicnn_cli = next(child.wall_s for name, child in cli.items() if "musicnn.tagger" in name)
    lite_cli = cli[f"python -m musicnn_lite {CLI_CLIP.name}"].wall_s
    found = [("30-s clip, command line, default runtime >= 8x", musicnn_cli / lite_cli, 8.0)]
    folder_rows = [row for row in rows if row.input.startswith("folder")]
    baseline = next((row.speed for row in folder_rows if row.tool.startswith("musicnn ")), None)
    for row in folder_rows:
        if baseline and row.tool.startswith("musicnn_lite") and row.tool.endswith(("onnx float32", "bfloat16")):
            goal = 7.0 if row.tool.endswith("bfloat16") else 4.5
            found.append((f"folder, {row.tool} >= {goal}x", row.speed / baseline, goal))
    return found


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs and few repeats: a smoke run")
    parser.add_argument("--output", type=Path,
                        help="markdown file to write (default: benchmarks/results.md; none with --quick)")
    parser.add_argument("--checkout", type=Path, default=REPO,
                        help="the musicnn_lite repository to measure (default: this one), e.g. a git worktree of "
                             "an older commit")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    output = args.output or (None if args.quick else BENCHMARKS / "results.md")

    musicnn = musicnn_python()
    options = lite_options(args.checkout.resolve())
    info = machine(musicnn, options.checkout)
    info["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = os.getloadavg()[0]
    with np.load(REPO / "weights" / f"{MODEL}.npz") as weights:
        flops = musicnn_patch_flops({key: weights[key].shape for key in weights.files if key.endswith("/kernel")})
    peak_dtypes = ["float32"] + (["bfloat16"] if cpu_flags() & {"avx512_bf16", "amx_bf16"} else [])

    with tempfile.TemporaryDirectory(prefix="musicnn-bench-") as work:
        rows = measure_throughput(settings, options, musicnn, Path(work))
        steady = measure_steady(settings, options, musicnn, Path(work))
        survey = measure_survey(settings, options, Path(work))
    peak = measure_matmul(settings, peak_dtypes)
    network = measure_network(settings, options)
    cli = measure_cli(settings, options, musicnn)
    info["load average (1 min)"] = f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"

    markdown = report(info, options, rows, steady, flops, network, peak, cli, survey, args.quick)
    print(markdown)
    if output:
        output.write_text(markdown)
        _progress(f"written to {output}")


if __name__ == "__main__":
    main()
