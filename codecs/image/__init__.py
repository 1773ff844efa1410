"""Learned image codecs, one module per transform family (hyperprior, ssm, swin, wavelet);
:mod:`ncodec.codecs.registry` imports them when an image codec is first asked for."""
