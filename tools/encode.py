"""`ncodec encode` as a script: same arguments (`python tools/encode.py --help`)."""
import sys

from ncodec.cli import main

if __name__ == "__main__":
    sys.exit(main(["encode", *sys.argv[1:]]))
