"""Point-cloud codecs: ``lidar`` (predictive, learned; the default) and ``octree`` (dense clouds);
:mod:`ncodec.codecs.registry` imports them when a point-cloud codec is first asked for."""
