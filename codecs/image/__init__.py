"""Learned image codecs (one module per transform family); importing registers them."""
from ncodec.codecs.image import hyperprior, ssm, swin, wavelet  # noqa: F401
