"""Error types that the command line maps to exit codes (2: bad input, 1: internal failure)."""


class InputError(Exception):
    """The user's input (a file, an argument, a path) cannot be used; the message says why."""


class FormatError(InputError):
    """A file is not a valid ncodec bitstream (wrong magic, truncated, corrupted, newer version...)."""


def run_reporting_errors(func, args) -> int:
    """Run a command's ``func(args)`` as every ncodec command does: bad input is one line on stderr
    and exit code 2, an internal failure one line and 1, never a traceback (unless NCODEC_DEBUG is
    set)."""
    import os
    import sys
    import traceback

    try:
        func(args)
        sys.stdout.flush()  # here, so that a reader that went away is seen below
    except BrokenPipeError:  # the reader closed the pipe (`ncodec list | head -1`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141
    except InputError as e:
        print(f"ncodec: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ncodec: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - the command line never shows a traceback
        print(f"ncodec: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        if os.environ.get("NCODEC_DEBUG"):  # for developers (e.g. a run on a lent GPU): the full traceback
            traceback.print_exc()
        return 1
    return 0
