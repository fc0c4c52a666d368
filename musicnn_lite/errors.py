"""The one exception type a user of musicnn_lite needs to catch, and how an error reads on one line."""


class MusicnnError(ValueError):
    """A problem the caller can fix: bad input, unknown model, unreadable file.

    The message names the bad value and says what to do. It subclasses ValueError
    so code written for musicnn 0.1.0 (which raised ValueError) keeps working.
    """


def one_line(error: Exception) -> str:
    """The error's message on one line, whatever it holds."""
    return " ".join(str(error).split())


def file_error_line(path: str, error: Exception | str) -> str:
    """`path: message` on one line, or the message alone where it names the file already."""
    message = one_line(error) if isinstance(error, Exception) else error
    return message if path in message else f"{path}: {message}"
