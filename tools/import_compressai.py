"""``python tools/import_compressai.py compressai CKPT [CKPT...] --arch ARCH NAME``: same arguments as
``ncodec import``."""
import sys

from ncodec.codecs.image.from_compressai.importer import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
