"""Evaluation: metrics, baselines, BD-rate, RD plots and reports (``ncodec eval``), the same for
every modality: what depends on the data (samples, reading, rate unit, metrics) comes from the
modality's evaluation section (:class:`ncodec.codecs.modality.Modality`).

metrics.py     PSNR (RGB; Y/U/V and 6:1:1 YUV), MS-SSIM (pytorch-msssim), bpp from file sizes
colour.py      RGB <-> full-range BT.709 Y'CbCr 4:4:4 for the video-codec baselines
baselines/     registry of real encoders, each for one modality: jpeg, jpeg444, webp, jpeg2000, avif,
               jxl, x265, vtm (images); laszip, draco, gzip, zstd, lzma, gpcc (point clouds)
learned.py     shipped checkpoints through the real file path (their modality's encode / decode)
reference.py   published Kodak curves (vtm-ref, hm-ref, ...), labelled as such
dataset.py     a folder's samples, content hashes;  cache.py  per-measurement result cache
runner.py      the ``ncodec eval`` command: modality, jobs, process pool, progress
results.py     per-codec JSON (CompressAI layout + meta), model-card RD points
bdrate.py      Bjontegaard deltas;  comparison.py  BD tables;  plots.py, report.py  figures and reports
pointcloud_bench.py  the former LiDAR benchmark: an alias of ``ncodec eval`` on point clouds
"""
