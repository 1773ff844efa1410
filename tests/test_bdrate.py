"""BD-rate against hand-computed values and published pairs."""
import json

import numpy as np
import pytest

from ncodec.errors import InputError
from ncodec.eval.bdrate import Curve, bd_psnr, bd_rate, load_curve

from conftest import SHARED_DATA


def test_constant_rate_ratio_is_exact():
    """Test uses 20% less rate at every quality -> BD-rate is exactly -20% (any interpolation)."""
    psnr = np.array([28.0, 31.0, 34.0, 37.0])
    rate = np.array([0.2, 0.45, 0.9, 1.7])
    for method in ("pchip", "cubic"):
        r = bd_rate(Curve("a", rate, psnr), Curve("t", rate * 0.8, psnr), method)
        assert r.value == pytest.approx(-20.0, abs=1e-9)
        assert r.overlap_anchor == r.overlap_test == 1.0


def test_hand_computed_shifted_linear_curves():
    """Anchor log R = (Q - 20)/5, test shifted by +1 dB on [31, 36]: overlap [31, 35];
    mean log-rate difference -1/5 -> BD-rate = exp(-0.2) - 1 = -18.127%; BD-PSNR = +1 dB."""
    q = np.array([30.0, 32.0, 34.0, 35.0])
    anchor = Curve("a", np.exp((q - 20) / 5), q)
    test = Curve("t", np.exp((q + 1 - 20 - 1) / 5), q + 1)  # same rates, 1 dB better
    r = bd_rate(anchor, test)
    assert r.value == pytest.approx((np.exp(-0.2) - 1) * 100, abs=1e-9)
    assert r.interval == (31.0, 35.0)
    assert r.overlap_anchor == pytest.approx(0.8) and r.overlap_test == pytest.approx(0.8)
    assert bd_psnr(anchor, test).value == pytest.approx(1.0, abs=1e-9)


def test_no_overlap_is_refused():
    with pytest.raises(InputError, match="do not overlap"):
        bd_rate(Curve("a", [0.1, 0.2], [25, 27]), Curve("t", [0.5, 1.0], [30, 33]))


def test_published_hyperprior_vs_vtm():
    ref = SHARED_DATA / "reference/compressai-results/image/kodak"
    if not ref.is_dir():
        pytest.skip("../shared/data/reference is not present")
    vtm = load_curve(ref / "vtm.json")
    hyperprior = load_curve(ref / "compressai-bmshj2018-hyperprior_mse_cuda.json")
    mean_scale = load_curve(ref / "compressai-mbt2018-mean_mse_cuda.json")
    assert 25 < bd_rate(vtm, hyperprior).value < 35          # ~ +30% (PCHIP)
    assert 15 < bd_rate(vtm, mean_scale).value < 27          # ~ +21%
    assert bd_rate(vtm, vtm).value == pytest.approx(0.0, abs=1e-9)


def test_bad_results_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    (tmp_path / "y.json").write_text(json.dumps({"results": {"bpp": [1, 2]}}))
    for name in ("x.json", "y.json", "missing.json"):
        with pytest.raises(InputError):
            load_curve(tmp_path / name)


def test_cli_bdrate(tmp_path):
    import contextlib
    import io

    from ncodec.cli import main

    q = [30.0, 32.0, 34.0, 36.0]
    for name, rates in (("a", [0.2, 0.4, 0.8, 1.6]), ("t", [0.15, 0.3, 0.6, 1.2])):
        (tmp_path / f"{name}.json").write_text(json.dumps({"name": name, "results": {"bpp": rates, "psnr-rgb": q}}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["bdrate", str(tmp_path / "a.json"), str(tmp_path / "t.json"), "--json"]) == 0
    assert json.loads(out.getvalue())["bd_rate_percent"] == pytest.approx(-25.0)
    with contextlib.redirect_stderr(io.StringIO()):
        assert main(["bdrate", str(tmp_path / "a.json"), str(tmp_path / "missing.json")]) == 2
