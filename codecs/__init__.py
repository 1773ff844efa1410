"""Codec families. Importing this package registers every codec."""
from ncodec.codecs.registry import get_codec, list_codecs, register_codec  # noqa: F401
from ncodec.codecs import image  # noqa: F401,E402  (registers the image codecs)
from ncodec.codecs import pointcloud  # noqa: F401,E402  (registers the point-cloud codecs)
