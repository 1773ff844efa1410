"""`ncodec decode` as a script: same arguments (`python tools/decode.py --help`)."""
import sys

from ncodec.cli import main

if __name__ == "__main__":
    sys.exit(main(["decode", *sys.argv[1:]]))
