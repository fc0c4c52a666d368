"""The one exception type a user of musicnn_lite needs to catch."""


class MusicnnError(ValueError):
    """A problem the caller can fix: bad input, unknown model, unreadable file.

    The message names the bad value and says what to do. It subclasses ValueError
    so code written for musicnn 0.1.0 (which raised ValueError) keeps working.
    """
