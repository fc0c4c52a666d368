"""TensorFlow's start-up noise kept off the user's terminal.

TensorFlow's C++ code writes informational lines to stderr before TF_CPP_MIN_LOG_LEVEL applies,
and tf.function warns about retracing that every new Tagger does once by design. Both are
filtered here, for the Keras runtime and the converter; a user who set TF_CPP_MIN_LOG_LEVEL
sees everything.
"""

import contextlib
import logging
import os
import subprocess
import sys
import threading

# Read once, at import: tf2onnx rewrites the variable when it is imported.
_USER_CHOSE_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ

# Lines TensorFlow's C++ code writes to stderr on start-up that say nothing to a user of this
# library: glog-style informational lines, the notice that precedes absl's log set-up, CPU
# instruction notes, and CUDA probing on machines without a GPU driver.
_TENSORFLOW_NOISE = (
    r"^I\d{4} ",
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^To enable the following instructions: .* rebuild TensorFlow",
    r"failed call to cuInit",
    r"Unable to register cu(DNN|FFT|BLAS) factory",
    r"computation placer already registered",
    r"oneDNN custom operations are on",
    r"TF-TRT Warning: Could not find TensorRT",
    r"Could not find cuda drivers",
)
_STDERR_REDIRECTION = threading.RLock()
# Runs in a small child process so that it outlives a fatal abort of this one: whatever
# TensorFlow writes before aborting still reaches the terminal.
_FILTER_PROGRAM = (
    "import re, sys\n"
    "noise = re.compile('|'.join(sys.argv[1:]))\n"
    "for line in sys.stdin.buffer:\n"
    "    if not noise.search(line.decode(errors='replace')):\n"
    "        sys.stdout.buffer.write(line); sys.stdout.buffer.flush()\n"
)


@contextlib.contextmanager
def tensorflow_noise_filtered():
    """Pass what this process writes to stderr (fd 2) meanwhile through a filter of known noise.

    TensorFlow's start-up lines are written by C++ before TF_CPP_MIN_LOG_LEVEL applies,
    so they can only be filtered at the file descriptor. A user who set
    TF_CPP_MIN_LOG_LEVEL chose what to see: then nothing is filtered.
    """
    if _USER_CHOSE_TF_LOG_LEVEL:
        yield
        return
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    # fd 2 is the process's: threads that build models at the same time take turns.
    with _STDERR_REDIRECTION, subprocess.Popen([sys.executable, "-S", "-c", _FILTER_PROGRAM, *_TENSORFLOW_NOISE],
                                               stdin=read_end, stdout=2):
        os.close(read_end)
        saved = os.dup(2)
        os.dup2(write_end, 2)
        os.close(write_end)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)  # closes the pipe's last write end: the filter drains it and exits
            os.close(saved)


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning: every new Tagger traces its
    own compiled model once per batch shape, which is expected, not a bug in the caller's code."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def hide_retracing_warnings() -> None:
    """Drop TensorFlow's retracing warning (see _RetracingFilter) from its logger, once."""
    logger = logging.getLogger("tensorflow")
    if not any(isinstance(existing, _RetracingFilter) for existing in logger.filters):
        logger.addFilter(_RetracingFilter())
