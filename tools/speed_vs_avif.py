"""Side-by-side encode/decode seconds of one image: an ncodec image codec (in-process through
the file API, and the CLI's wall time) vs avifenc/avifdec (speed 6, 4:4:4, --jobs 1, as the eval
baseline) at a chosen AVIF quantizer, median of 3 runs each, in one process.

    python3 tools/speed_vs_avif.py IMAGE QUALITY AVIF_QUANTIZER [CODEC]
"""
import subprocess, time, sys, os, numpy as np, tempfile
from pathlib import Path
import ncodec
src = Path(sys.argv[1]); q = float(sys.argv[2]); aq = int(sys.argv[3]); name = sys.argv[4] if len(sys.argv) > 4 else 'lwc'
d = Path(tempfile.mkdtemp())
def med(f, n=3):
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return float(np.median(ts))
M = ncodec.load(name)


def enc1():
    if hasattr(M, '_last'):
        M._last = None  # no reuse of a cached analysis of the same image
    ncodec.encode_file(src, d / 'a.ncd', codec=name, quality=q, force=True)
enc = med(enc1)
dec = med(lambda: ncodec.decode_file(d / 'a.ncd', d / 'a.png', force=True))
rep = ncodec.encode_file(src, d / 'a.ncd', codec=name, quality=q, force=True)
cli_enc = med(lambda: subprocess.run(['ncodec', 'encode', src, d / 'b.ncd', '--codec', name, '--quality', str(q), '--force'], check=True, capture_output=True))
cli_dec = med(lambda: subprocess.run(['ncodec', 'decode', d / 'b.ncd', d / 'b.png', '--force'], check=True, capture_output=True))
aenc = med(lambda: subprocess.run(['avifenc', '--jobs', '1', '--speed', '6', '--yuv', '444', '--depth', '8', '--min', str(aq), '--max', str(aq), src, d / 'c.avif'], check=True, capture_output=True))
adec = med(lambda: subprocess.run(['avifdec', '--jobs', '1', '--depth', '8', d / 'c.avif', d / 'c.png'], check=True, capture_output=True))
from PIL import Image
ref = np.asarray(Image.open(src).convert('RGB')).astype(float)
def psnr(p): return 10*np.log10(255**2/np.mean((np.asarray(Image.open(p).convert('RGB')).astype(float)-ref)**2))
px = ref.shape[0]*ref.shape[1]
print(f"{name} q={q}: {rep['bpp']:.3f} bpp {psnr(d/'a.png'):.2f} dB | encode {enc:.3f} s decode {dec:.3f} s (in-process) | CLI encode {cli_enc:.3f} s decode {cli_dec:.3f} s")
print(f"avif q={aq}: {os.path.getsize(d/'c.avif')*8/px:.3f} bpp {psnr(d/'c.png'):.2f} dB | avifenc {aenc:.3f} s avifdec {adec:.3f} s")
