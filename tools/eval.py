"""`ncodec eval` as a script: same arguments (`python tools/eval.py --help`)."""
import sys

from ncodec.cli import main

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
