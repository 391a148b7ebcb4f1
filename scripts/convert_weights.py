#!/usr/bin/env python3
"""Converts PyTorch checkpoints (.pth) into tessera weight files (safetensors + arch metadata).

.pth files are pickles that LibTorch cannot read, so this runs in Python (the venv that
scripts/bootstrap.sh makes):

  ~/.cache/tessera/venv/bin/python scripts/convert_weights.py EDSR_x2.pth model.safetensors --arch edsr --scale 2

Supported layouts (the arch size is read from the weights):
  --arch edsr      BasicSR's EDSR (conv_first/body.N.conv1/upsample/conv_last; 'params' or
                   'params_ema' wrappers) and the official EDSR-PyTorch code (sub_mean/head/body/tail)
  --arch wdsr      the official WDSR code (head/body/tail/skip with weight_g/weight_v); --variant a|b
  --arch rrdbnet   ESRGAN's generator: BasicSR / Real-ESRGAN files (conv_first/body.N.rdb1.conv1/conv_body/
                   conv_up1/conv_up2/conv_hr/conv_last; 'params_ema' or 'params' wrappers, e.g.
                   RealESRGAN_x4plus.pth), the original ESRGAN names (RRDB_trunk.N.RDB1.conv1, trunk_conv,
                   upconv1, upconv2, HRconv, conv_last: RRDB_ESRGAN_x4.pth) and its oldest layout (model.0,
                   model.1.sub.N.RDB1.conv1.0, model.3/6/8/10). The scale is read from conv_first's
                   input channels (x4: 3, x2: 12, x1: 48); --scale, if given, must agree.
  --arch srresnet  tessera's own layout (for weights exported from tests/python/reference_archs.py)
  --arch espcn     conv1/conv2/conv3
  --arch transformer_net
                   pytorch/examples fast_neural_style's saved models (candy.pth, mosaic.pth, ...):
                   the legacy instance-norm running_mean/running_var keys are dropped. No --scale.
  --arch vgg       torchvision's VGG16/VGG19 (vgg16-397923af.pth, vgg19-dcbb9e9d.pth; the depth is read
                   from the weights, the classifier is dropped): the feature network of style
                   transfer and perceptual losses. No --scale.
"""
import argparse
import re
import sys

import torch
import yaml
from safetensors.torch import save_file


def unwrap(obj, key):
    if isinstance(obj, dict):
        for k in ([key] if key else []) + ["params_ema", "params", "state_dict", "model"]:
            if k in obj and isinstance(obj[k], dict):
                return obj[k]
    return obj


def official_edsr_to_basicsr(sd):
    out = {}
    n_body = max(int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.", k)))
    for k, v in sd.items():
        if k.startswith(("sub_mean", "add_mean")):
            continue
        if k.startswith("head.0."):
            out["conv_first." + k[7:]] = v
        elif m := re.match(r"body\.(\d+)\.body\.([02])\.(.*)", k):
            out[f"body.{m.group(1)}.conv{1 if m.group(2) == '0' else 2}.{m.group(3)}"] = v
        elif k.startswith(f"body.{n_body}."):
            out["conv_after_body." + k[len(f'body.{n_body}.'):]] = v
        elif m := re.match(r"tail\.0\.(\d+)\.(.*)", k):
            out[f"upsample.{m.group(1)}.{m.group(2)}"] = v
        elif k.startswith("tail.1."):
            out["conv_last." + k[7:]] = v
        else:
            raise SystemExit(f"unexpected tensor '{k}' for the official EDSR layout")
    return out


def esrgan_to_basicsr(sd):
    """The original ESRGAN repository's names (both of its layouts) to BasicSR's."""
    if "model.0.weight" in sd:  # the oldest release: one nn.Sequential
        trunk = max(int(m.group(1)) for k in sd if (m := re.match(r"model\.1\.sub\.(\d+)\.weight", k)))
        new = {}
        for k, v in sd.items():
            if m := re.match(r"model\.1\.sub\.(\d+)\.(RDB\d)\.(conv\d)\.0\.(weight|bias)", k):
                new[f"RRDB_trunk.{m.group(1)}.{m.group(2)}.{m.group(3)}.{m.group(4)}"] = v
            elif m := re.match(rf"model\.1\.sub\.{trunk}\.(weight|bias)", k):
                new["trunk_conv." + m.group(1)] = v
            else:
                names = {"model.0.": "conv_first.", "model.3.": "upconv1.", "model.6.": "upconv2.", "model.8.": "HRconv.",
                         "model.10.": "conv_last."}
                prefix = next((p for p in names if k.startswith(p)), None)
                if prefix is None:
                    raise SystemExit(f"unexpected tensor '{k}' for ESRGAN's oldest layout")
                new[names[prefix] + k[len(prefix):]] = v
        sd = new
    out = {}
    for k, v in sd.items():
        if m := re.match(r"RRDB_trunk\.(\d+)\.RDB(\d)\.(conv\d)\.(weight|bias)", k):
            out[f"body.{m.group(1)}.rdb{m.group(2)}.{m.group(3)}.{m.group(4)}"] = v
        else:
            renamed = {"trunk_conv.": "conv_body.", "upconv1.": "conv_up1.", "upconv2.": "conv_up2.", "HRconv.": "conv_hr.",
                       "conv_first.": "conv_first.", "conv_last.": "conv_last."}
            prefix = next((p for p in renamed if k.startswith(p)), None)
            if prefix is None:
                raise SystemExit(f"unexpected tensor '{k}' for ESRGAN's layout")
            out[renamed[prefix] + k[len(prefix):]] = v
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--arch", required=True, choices=["edsr", "wdsr", "srresnet", "rrdbnet", "espcn", "vgg", "transformer_net"])
    p.add_argument("--scale", type=int, help="upscale factor (SR archs)")
    p.add_argument("--key", help="dict key holding the state dict (default: params_ema, params, state_dict, model)")
    p.add_argument("--res-scale", type=float, default=None, help="EDSR/WDSR residual scaling (EDSR full: 0.1)")
    p.add_argument("--variant", choices=["a", "b"], default="a", help="WDSR variant")
    p.add_argument("--activation", choices=["tanh", "relu"], default="tanh", help="ESPCN activation")
    a = p.parse_args()

    obj = torch.load(a.input, map_location="cpu", weights_only=True) if a.input.endswith((".pth", ".pt")) else None
    if obj is None:
        from safetensors.torch import load_file
        obj = load_file(a.input)
    sd = {re.sub(r"^module\.", "", k): (v.float() if v.is_floating_point() else v).contiguous()
          for k, v in unwrap(obj, a.key).items() if isinstance(v, torch.Tensor)}
    if a.arch == "vgg":
        sd = {k: v for k, v in sd.items() if k.startswith("features.")}
        convs = sorted({int(k.split(".")[1]) for k in sd if k.endswith(".weight")})
        if len(convs) not in (13, 16):
            raise SystemExit(f"{a.input}: {len(convs)} convolutions in features.*: not torchvision's VGG16 (13) or VGG19 (16)")
        opts = {"type": "vgg", "depth": 16 if len(convs) == 13 else 19, "use_input_norm": True, "range_norm": False, "pooling": "max"}
        meta = {"format": "pt", "tessera.arch": yaml.safe_dump(opts, sort_keys=False), "tessera.type": "vgg",
                "tessera.task": "feature_extractor", "tessera.scale": "1", "tessera.converted_from": a.input}
        save_file(sd, a.output, metadata=meta)
        print(f"wrote {a.output}: VGG{opts['depth']} features ({len(sd)} tensors)", file=sys.stderr)
        return
    if a.arch == "transformer_net":
        sd = {k: v for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
        if "conv1.conv2d.weight" not in sd or "deconv3.conv2d.weight" not in sd:
            raise SystemExit(f"{a.input} does not look like a fast_neural_style TransformerNet state dict")
        opts = {"type": "transformer_net", "base": int(sd["conv1.conv2d.weight"].shape[0]),
                "num_res": len({k.split(".")[0] for k in sd if re.match(r"res\d+\.", k)}), "pixel_range": 255.0}
        meta = {"format": "pt", "tessera.arch": yaml.safe_dump(opts, sort_keys=False), "tessera.type": "transformer_net",
                "tessera.task": "image_to_image", "tessera.scale": "1", "tessera.converted_from": a.input}
        save_file(sd, a.output, metadata=meta)
        print(f"wrote {a.output}: transformer_net {opts}", file=sys.stderr)
        return
    if a.arch == "rrdbnet":
        if "RRDB_trunk.0.RDB1.conv1.weight" in sd or "model.0.weight" in sd:
            sd = esrgan_to_basicsr(sd)
        if "conv_first.weight" not in sd or "body.0.rdb1.conv1.weight" not in sd:
            raise SystemExit(f"{a.input} does not look like an RRDBNet (ESRGAN) state dict")
        channels = int(sd["conv_last.weight"].shape[0])
        scale = {1: 4, 4: 2, 16: 1}.get(int(sd["conv_first.weight"].shape[1]) // channels)
        if scale is None or (a.scale is not None and a.scale != scale):
            raise SystemExit(f"{a.input}: conv_first takes {sd['conv_first.weight'].shape[1]} channels, which is "
                             f"x{scale} for {channels}-channel images" + (f", not --scale {a.scale}" if a.scale else ""))
        a.scale = scale
    if a.scale is None:
        p.error(f"--arch {a.arch} needs --scale")
    opts = {"type": a.arch, "scale": a.scale}
    if a.arch == "edsr":
        if "head.0.weight" in sd:
            sd = official_edsr_to_basicsr(sd)
        opts["num_feat"] = sd["conv_first.weight"].shape[0]
        opts["num_block"] = len({k.split(".")[1] for k in sd if k.startswith("body.")})
        opts["res_scale"] = a.res_scale if a.res_scale is not None else (0.1 if opts["num_feat"] > 64 else 1.0)
    elif a.arch == "wdsr":
        opts["variant"] = a.variant
        opts["num_feat"] = sd["head.0.weight_v"].shape[0]
        opts["num_block"] = len({k.split(".")[1] for k in sd if k.startswith("body.")})
        opts["expansion"] = sd["body.0.body.0.weight_v"].shape[0] // opts["num_feat"]
        opts["res_scale"] = a.res_scale if a.res_scale is not None else 1.0
        if a.variant == "b":
            opts["low_rank"] = sd["body.0.body.2.weight_v"].shape[0] / opts["num_feat"]
    elif a.arch == "rrdbnet":
        opts["channels"] = int(sd["conv_last.weight"].shape[0])
        opts["num_feat"] = int(sd["conv_first.weight"].shape[0])
        opts["num_block"] = len({k.split(".")[1] for k in sd if k.startswith("body.")})
        opts["num_grow_ch"] = int(sd["body.0.rdb1.conv1.weight"].shape[0])
    elif a.arch == "srresnet":
        opts["num_feat"] = sd["conv_first.weight"].shape[0]
        opts["num_block"] = len({k.split(".")[1] for k in sd if k.startswith("body.")})
    else:
        opts["feat1"], opts["feat2"] = sd["conv1.weight"].shape[0], sd["conv2.weight"].shape[0]
        opts["activation"] = a.activation
    meta = {"format": "pt", "tessera.arch": yaml.safe_dump(opts, sort_keys=False), "tessera.type": a.arch,
            "tessera.scale": str(a.scale), "tessera.converted_from": a.input}
    save_file(sd, a.output, metadata=meta)
    print(f"wrote {a.output}: {a.arch} {opts}", file=sys.stderr)


if __name__ == "__main__":
    main()
