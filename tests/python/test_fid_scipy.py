"""tessera's FID (C++, float64, eigenvalue route) equals the scipy reference formula
||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) with scipy.linalg.sqrtm, within 1e-3, on
identical features (both sides read the same files), including correlated, rank-deficient ones."""
import os

import numpy as np
from safetensors.numpy import save_file
from scipy import linalg

from common import check, parse_args, run

a = parse_args()
rng = np.random.default_rng(0)


def scipy_fid(x, y):
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


mix = rng.normal(size=(16, 16))
cases = {
    "gaussian": (rng.normal(size=(2000, 16)), rng.normal(0.3, 1.2, size=(2000, 16))),
    "correlated": (rng.normal(size=(1500, 16)) @ mix, rng.normal(size=(1500, 16)) @ mix * 0.9 + 0.1),
    "low_rank": (rng.normal(size=(300, 8)) @ rng.normal(size=(8, 32)), rng.normal(size=(300, 8)) @ rng.normal(size=(8, 32))),
}
for name, (x, y) in cases.items():
    fx, fy = os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")
    save_file({"f": x.astype(np.float64)}, fx)
    save_file({"f": y.astype(np.float64)}, fy)
    got = float(run([a.helper, "fid", fx, fy]))
    ref = scipy_fid(x, y)
    check(abs(got - ref) < 1e-3, f"{name}: FID {got:.6f} vs scipy {ref:.6f}")
