"""`ncodec train` as a script: same arguments (`python tools/train.py fit --config ...`)."""
import sys

from ncodec.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
