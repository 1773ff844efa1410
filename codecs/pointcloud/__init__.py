"""Point-cloud codecs: ``lidar`` (predictive, learned; the default) and ``octree`` (dense clouds)."""
from ncodec.codecs.pointcloud import lidar, octree  # noqa: F401  (registers "lidar" and "octree")
