"""CompressAI interoperability: import trained CompressAI models as exact ncodec codecs
(``importer``, ``codec``, ``coders``, ``exact``) and use any ncodec image codec where CompressAI
code expects a model (``adapter``)."""
