"""Error types that the command line maps to exit codes (2: bad input, 1: internal failure)."""


class InputError(Exception):
    """The user's input (a file, an argument, a path) cannot be used; the message says why."""


class FormatError(InputError):
    """A file is not a valid ncodec bitstream (wrong magic, truncated, corrupted, newer version...)."""
