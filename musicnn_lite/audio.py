"""Audio in: decode a file or take a waveform array, mix to mono, resample to the model's rate (16 kHz so far).

Matches `librosa.load(path, sr=16000)` (float32 decode, channel mean, soxr_hq
resampling), which is how musicnn read audio and what its models were trained on.
"""

import contextlib
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile
import soxr

from .errors import MusicnnError
from .validators import not_url, whole_number

SAMPLE_RATE = 16000  # the rate every model so far was trained at (each declares its own: front_end)
# Sample rates accepted, in Hz. Below, resampling to 16 kHz would multiply the samples (and the
# memory) by more than 16; above, no real audio is sampled, and soxr hangs on extreme ratios (1e18 Hz).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 1_000_000
BLOCK_SECONDS = 30  # decoded per step: a long file never sits in memory whole
AudioSource = str | bytes | os.PathLike | BinaryIO | np.ndarray


def load_audio(source: AudioSource, sr: float | None = None, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 waveform at `rate` Hz, shape (samples,), from a path, file object or array.

    `sr` is the sample rate of an array source, in Hz; it is required for arrays and
    must be left out for files, whose header says it.
    """
    return np.concatenate(list(stream_audio(source, sr, rate=rate)))


def stream_audio(source: AudioSource, sr: float | None = None, block_seconds: float = BLOCK_SECONDS,
                 rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """The waveform of `load_audio` as consecutive mono float32 blocks at `rate` Hz.

    Files are decoded `block_seconds` at a time and resampled with a streaming soxr
    resampler, whose output equals librosa's one-shot soxr_hq resampling sample for sample.
    """
    if isinstance(source, np.ndarray):
        if sr is None:
            raise MusicnnError("a waveform array needs its sample rate: pass sr=, e.g. sr=44100")
        native_sr, blocks = _check_sample_rate(sr), iter([_array_to_channels_first(source)])
        name = "the waveform array"
    else:
        source = _file_source(source)
        if sr is not None:
            raise MusicnnError("sr= is only for waveform arrays; a file's sample rate is read from the file")
        native_sr, blocks = _decode_blocks(source, block_seconds)
        name = source if isinstance(source, str) else "the file object"
    mono = (_finite(block, name).mean(axis=0) for block in blocks)  # the channel mean, as librosa.to_mono
    samples = 0
    for block in _resample(mono, native_sr, rate):
        samples += len(block)
        yield block
    if samples == 0:
        raise MusicnnError(f"{name} holds no audio samples; pass audio at least one sample long")


def _resample(blocks: Iterator[np.ndarray], native_sr: int, rate: int) -> Iterator[np.ndarray]:
    """Blocks resampled to `rate` as `librosa.resample(y, orig_sr=native_sr, target_sr=rate)` would.

    Like librosa, the total length is fixed to ceil(samples * rate / native_sr); the
    last block is held back so that the fix can reach it.
    """
    if native_sr == rate:
        yield from blocks
        return
    stream = soxr.ResampleStream(native_sr, rate, 1, dtype="float32", quality="soxr_hq")
    held, samples_in, samples_out = np.zeros(0, np.float32), 0, 0
    for block in blocks:
        samples_in += len(block)
        resampled = stream.resample_chunk(block)
        if len(resampled):
            if len(held):
                yield held
            samples_out += len(held)
            held = resampled
    tail = np.concatenate([held, stream.resample_chunk(np.zeros(0, np.float32), last=True)])
    wanted = math.ceil(samples_in * rate / native_sr) - samples_out
    yield np.pad(tail[:wanted], (0, max(0, wanted - len(tail))))


def _finite(block: np.ndarray, name: str) -> np.ndarray:
    if not np.isfinite(block).all():  # float files and arrays can hold NaN; the models would return noise
        raise MusicnnError(f"{name} holds NaN or infinite samples; clean or clip the audio first")
    return block


def _file_source(source) -> str | BinaryIO:
    """A path as str (bytes paths decoded as the OS does), or a binary file object; anything else is refused."""
    if isinstance(source, (str, bytes, os.PathLike)):
        return not_url(os.fsdecode(source))
    if isinstance(source, io.TextIOBase):
        raise MusicnnError("the file object is open in text mode; open audio files in binary mode: open(path, 'rb')")
    if not hasattr(source, "read"):
        raise MusicnnError(f"cannot read audio from a {type(source).__name__}; pass a file path, "
                           "a binary file object, or a numpy array with sr=")
    return source


def _sndfile_name(source: str | BinaryIO) -> bytes | str | BinaryIO:
    """What libsndfile opens: a POSIX path as bytes, so that names that are not UTF-8
    (which Python holds as surrogate escapes, and soundfile refuses to encode) open too."""
    return os.fsencode(source) if isinstance(source, str) and os.name == "posix" else source


# The first bytes of the formats handed to libsndfile: those musicnn's audio came in (wav, aiff, au, caf,
# w64, flac, ogg) and MPEG audio (an ID3 tag, or a frame's 11 sync bits and a layer other than the
# reserved 00 that ADTS AAC uses). libsndfile would also try its MP3 decoder on anything it does not
# recognise, which resyncs through the bytes printing "Note: Illegal Audio-MPEG-Header" on the process's
# stderr; everything else (m4a, aac, wma, junk) goes to FFmpeg through PyAV, which prints nothing.
_SNDFILE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"FORM", b".snd", b"dns.", b"fLaC", b"OggS", b"caff",
                  b"riff", b"ID3")


def _sndfile_format(head: bytes) -> bool:
    """Whether a file starting with `head` is one for libsndfile (see _SNDFILE_MAGIC)."""
    mpeg_frame = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0
    return head.startswith(_SNDFILE_MAGIC) or mpeg_frame


def _decode_blocks(source: str | BinaryIO, block_seconds: float) -> tuple[int, Iterator[np.ndarray]]:
    """The native sample rate of an audio file and its (channels, samples) float32 blocks.

    wav, flac, ogg and mp3 are decoded by libsndfile, as librosa.load does (same samples);
    other formats (m4a, aac, wma, ...) by FFmpeg through PyAV. What is opened here is
    closed when the blocks are exhausted or dropped, or at once if this raises.
    """
    name = source if isinstance(source, str) else "the file object"
    if isinstance(source, str):
        _check_readable(Path(source))
    with contextlib.ExitStack() as opened:
        if _sndfile_format(_head(source)):
            try:
                file = opened.enter_context(soundfile.SoundFile(_sndfile_name(source)))
            except soundfile.LibsndfileError:  # a variant libsndfile lacks, or damage FFmpeg may read past
                pass
            else:
                rate = _check_file_rate(name, file.samplerate)
                return rate, _sndfile_blocks(opened.pop_all(), file, name, max(1, int(block_seconds * rate)))
        import av  # FFmpeg: about 0.17 s to import, paid only by files libsndfile does not read

        file = opened.enter_context(open(source, "rb")) if isinstance(source, str) else source  # any name opens
        try:
            container = opened.enter_context(av.open(file))
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise MusicnnError(f"could not decode {name} as audio ({_reason(error)}); "
                               "convert it to wav, flac, ogg or mp3 and try again") from error
        if not container.streams.audio:
            raise MusicnnError(f"{name} holds no audio stream; pass an audio file")
        stream = container.streams.audio[0]
        rate = _check_file_rate(name, stream.codec_context.sample_rate)
        return rate, _ffmpeg_blocks(opened.pop_all(), container, stream, name, max(1, int(block_seconds * rate)))


def _head(source: str | BinaryIO, size: int = 4) -> bytes:
    """The first `size` bytes of a file; a file object is left where it was."""
    if isinstance(source, str):
        with open(source, "rb") as file:
            return file.read(size)
    try:
        position = source.tell()
        head = source.read(size)
        source.seek(position)
    except (OSError, ValueError) as error:
        raise MusicnnError(f"cannot read the file object ({error}); pass a seekable binary file object, "
                           "e.g. open(path, 'rb') or io.BytesIO(data)") from error
    return head if isinstance(head, bytes) else b""


def _check_file_rate(name: str, rate: int) -> int:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise MusicnnError(f"{name} has a sample rate of {rate} Hz; resample it to between "
                           f"{MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz first")
    return rate


def _sndfile_blocks(opened: contextlib.ExitStack, file: soundfile.SoundFile, name: str,
                    block_frames: int) -> Iterator[np.ndarray]:
    # Read on from the start, as librosa.load does: seeking first changes mp3 decoding slightly.
    with opened:
        while True:
            try:
                block = file.read(block_frames, dtype="float32", always_2d=True)
            except soundfile.LibsndfileError as error:
                raise MusicnnError(f"could not decode {name} past sample {file.tell()} ({error}); "
                                   "the file may be truncated or corrupt") from error
            if not len(block):
                return
            yield block.T


def _ffmpeg_blocks(opened: contextlib.ExitStack, container, stream, name: str,
                   block_frames: int) -> Iterator[np.ndarray]:
    """(channels, samples) float32 blocks of about block_frames samples, converted from any sample format."""
    import av

    to_float = av.AudioResampler(format="fltp")  # sample format only: rate and channels are kept
    pending, samples, decoded = [], 0, 0
    with opened:
        try:
            for frame in container.decode(stream):
                for converted in to_float.resample(frame):
                    pending.append(converted.to_ndarray())
                    samples += converted.samples
                if samples >= block_frames:
                    yield np.concatenate(pending, axis=1)
                    decoded += samples
                    pending, samples = [], 0
        except (av.error.FFmpegError, OSError, ValueError) as error:
            raise MusicnnError(f"could not decode {name} past sample {decoded + samples} ({_reason(error)}); "
                               "the file may be truncated or corrupt") from error
    if pending:
        yield np.concatenate(pending, axis=1)


def _reason(error: Exception) -> str:
    """FFmpeg's own words for an error, without PyAV's errno and file name."""
    return getattr(error, "strerror", None) or str(error)


def _check_readable(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MusicnnError(f"no such file: {path}; check the path") from None
    except OSError as error:  # a symbolic link loop, a name too long, ...
        raise MusicnnError(f"cannot open {path} ({error.strerror}); check the path") from None
    if path.is_dir():
        raise MusicnnError(f"{path} is a folder, not an audio file; pass a file "
                           "(the command line accepts folders)")
    if not path.is_file():
        raise MusicnnError(f"{path} is not a regular file (a pipe, socket or device); pass an audio file")
    if not os.access(path, os.R_OK):
        raise MusicnnError(f"cannot read {path}: permission denied; check the file's permissions")
    if size == 0:
        raise MusicnnError(f"{path} is empty (0 bytes); pass a file that holds audio")


def _check_sample_rate(sr: float) -> int:
    return whole_number("sr", sr, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, hint=" Hz (the sample rate), e.g. 44100")


def _array_to_channels_first(waveform: np.ndarray) -> np.ndarray:
    """(channels, samples) float32 in [-1, 1] from a 1-D or 2-D float or integer PCM array.

    A 2-D array's shorter axis is its channel axis, so both (samples, channels),
    as soundfile returns, and (channels, samples), as librosa returns, work.
    """
    if waveform.size == 0:
        raise MusicnnError(f"the waveform array is empty (shape {waveform.shape}); pass at least one sample")
    if waveform.ndim == 1:
        waveform = waveform[np.newaxis, :]
    elif waveform.ndim == 2:
        if waveform.shape[0] == waveform.shape[1] and waveform.size > 1:
            raise MusicnnError(f"cannot tell channels from samples in a square array of shape {waveform.shape}; "
                               "pass (samples, channels) or (channels, samples) with more samples than channels")
        if waveform.shape[0] > waveform.shape[1]:
            waveform = waveform.T
    else:
        raise MusicnnError(f"a waveform array must be 1-D (samples,) or 2-D (channels, samples), "
                           f"not of shape {waveform.shape}")
    return _to_float32(waveform)


def _to_float32(waveform: np.ndarray) -> np.ndarray:
    """Scale integer PCM to [-1, 1] (int16 / 32768, uint8 centred on 128); floats as float32."""
    kind = waveform.dtype.kind
    if kind in "iu":
        bits = 8 * waveform.dtype.itemsize
        offset = 2 ** (bits - 1) if kind == "u" else 0
        return ((waveform.astype(np.float64) - offset) / 2 ** (bits - 1)).astype(np.float32)
    if kind != "f":
        raise MusicnnError(f"a waveform array must hold floats or integer PCM, not {waveform.dtype}")
    return waveform.astype(np.float32)
