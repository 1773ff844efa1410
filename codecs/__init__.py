"""Codec families. Each modality's codecs register themselves when first needed
(:func:`ncodec.codecs.registry.get_codec` / ``list_codecs`` import them)."""
from ncodec.codecs.registry import get_codec, list_codecs, load_family, register_codec  # noqa: F401
