"""Learned image codecs (one module per transform family)."""
from ncodec.codecs.image import hyperprior  # noqa: F401  (registers "hyperprior")
