"""Learned image codecs (one module per transform family); importing registers them."""
from ncodec.codecs.image import hyperprior, wavelet  # noqa: F401
