"""The feed-forward style network against pytorch/examples' TransformerNet (written out in
reference_archs.py): a randomly initialised model saved the way their training script saves it
(legacy instance-norm running statistics included), converted with scripts/convert_weights.py,
gives their output (on [0, 255]) from tessera's [0, 1] images; and its ONNX export (reflection Pad,
InstanceNormalization, nearest Resize) matches LibTorch in onnxruntime at two input sizes."""
import os
import sys

import numpy as np
import onnxruntime as ort
import torch
from safetensors.torch import load_file, save_file

from common import check, parse_args, run
from reference_archs import TransformerNet

a = parse_args()
torch.manual_seed(0)
ref = TransformerNet(base=8, num_res=2).eval()
with torch.no_grad():
    for m in ref.modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.2, 0.2)
sd = ref.state_dict()
# Models saved by older PyTorch carry instance-norm running statistics (the example's loader deletes them).
sd.update({k.replace("weight", "running_mean"): torch.zeros_like(v) for k, v in list(sd.items()) if k.startswith("in") and k.endswith("weight")})
pth, ckpt = os.path.join(a.work, "candy.pth"), os.path.join(a.work, "candy.safetensors")
torch.save(sd, pth)
run([sys.executable, os.path.join(a.source, "scripts/convert_weights.py"), pth, ckpt, "--arch", "transformer_net"])
onnx_path = os.path.join(a.work, "candy.onnx")
run([a.tessera, "export", "--checkpoint", ckpt, "--output", onnx_path])
sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
for h, w in ((32, 40), (37, 30)):
    x = torch.rand(2, 3, h, w)
    save_file({"x": x}, os.path.join(a.work, "x.safetensors"))
    run([a.helper, "forward", ckpt, os.path.join(a.work, "x.safetensors"), os.path.join(a.work, "y.safetensors")])
    got = load_file(os.path.join(a.work, "y.safetensors"))["y"]
    with torch.no_grad():
        expected = ref(x * 255)[:, :, :h, :w] / 255
    err = (got - expected).abs().max().item()
    check(got.shape == expected.shape and err < 1e-4, f"{h}x{w}: tessera = pytorch/examples TransformerNet (max abs {err:.1e} in [0,1] units)")
    onnx_out = sess.run(None, {"input": x.numpy()})[0]
    err = np.abs(onnx_out - got.numpy()).max()
    check(onnx_out.shape == tuple(got.shape) and err < 1e-4, f"{h}x{w}: onnxruntime = LibTorch (max abs {err:.1e})")
