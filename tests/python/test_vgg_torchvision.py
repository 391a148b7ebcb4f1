"""The VGG feature network against torchvision: randomly initialised torchvision VGG16 and VGG19,
saved as .pth and converted with scripts/convert_weights.py --arch vgg, give the same features at
every named tap (conv/relu/pool, ImageNet normalisation applied inside tessera's network)."""
import os
import subprocess
import sys

import torch
import torchvision
from safetensors.torch import load_file, save_file

from common import check, parse_args, run

a = parse_args()
torch.manual_seed(0)
x = torch.rand(2, 3, 40, 36)
save_file({"x": x}, os.path.join(a.work, "x.safetensors"))
mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
for depth in (16, 19):
    net = getattr(torchvision.models, f"vgg{depth}")(weights=None).eval()
    pth, conv = os.path.join(a.work, f"vgg{depth}.pth"), os.path.join(a.work, f"vgg{depth}.safetensors")
    torch.save(net.state_dict(), pth)
    run([sys.executable, os.path.join(a.source, "scripts/convert_weights.py"), pth, conv, "--arch", "vgg"])
    out = os.path.join(a.work, f"f{depth}.safetensors")
    run([a.helper, "vgg", conv, str(depth), os.path.join(a.work, "x.safetensors"), out])
    got = load_file(out)
    # torchvision's features, named: conv/relu per stage, then pool.
    names, stage, k = [], 1, 1
    for m in net.features:
        if isinstance(m, torch.nn.Conv2d):
            names.append(f"conv{stage}_{k}")
        elif isinstance(m, torch.nn.ReLU):
            names.append(f"relu{stage}_{k}")
            k += 1
        else:
            names.append(f"pool{stage}")
            stage, k = stage + 1, 1
    h, worst = (x - mean) / std, 0.0
    with torch.no_grad():
        for name, m in zip(names, net.features):
            h = m(h)
            scale = h.abs().max().item() + 1e-12
            worst = max(worst, (h - got[name]).abs().max().item() / scale)
    check(len(got) == len(names) == (37 if depth == 19 else 31), f"VGG{depth}: {len(got)} taps")
    check(worst < 1e-5, f"VGG{depth} = torchvision at every tap (max relative difference {worst:.1e})")

# A missing weights file says how to get one.
r = subprocess.run([a.helper, "vgg", os.path.join(a.work, "nope.safetensors"), "19", os.path.join(a.work, "x.safetensors"),
                    os.path.join(a.work, "o.safetensors")], capture_output=True, text=True)
check(r.returncode != 0 and "convert_weights.py" in r.stderr and "weights: random" in r.stderr, "a missing VGG file names the converter")
