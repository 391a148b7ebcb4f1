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
  --arch resnet_generator
                   CycleGAN's generator (junyanz/pytorch-CycleGAN-and-pix2pix ResnetGenerator, model.N
                   names; e.g. its latest_net_G_A.pth): instance norm (its old files' legacy instance-norm
                   running_mean/running_var keys are dropped), batch norm (pix2pix) or none (junyanz's
                   Identity places and bias-less convs, or tessera's consecutive numbering). channels,
                   num_feat, num_blocks, norm and dropout are read from the weights; --norm and
                   --dropout, if given, must agree. No --scale.
  --arch patchgan  its PatchGAN discriminator (NLayerDiscriminator, model.N; latest_net_D_A.pth): num_layers
                   from the number of 4x4 convs, norm as for the generator.
  --arch unet_discriminator_sn
                   Real-ESRGAN's U-Net discriminator (UNetDiscriminatorSN: conv0, conv1-8 weight_orig /
                   weight_u / weight_v, conv9; 'params' wrapper, e.g. RealESRGAN_x4plus_netD.pth).
                   skip_connection cannot be read from the weights: --no-skip for a network without.
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


# ---- junyanz's ResnetGenerator / NLayerDiscriminator and Real-ESRGAN's UNetDiscriminatorSN ----
def gan_children(arch, o):
    """junyanz's nn.Sequential `model` as a list of children, with a ("norm", c) in every place where
    junyanz's code has a norm layer (an Identity under its norm 'none'): ("conv", in, out, k, bias),
    ("convT", in, out, k, bias), ("block", c) (a ResnetBlock) or None (no parameters)."""
    c, f, bias = o["channels"], o["num_feat"], o["norm"] != "batch"
    if arch == "resnet_generator":
        s = [None, ("conv", c, f, 7, bias), ("norm", f), None]
        for m in (1, 2):
            s += [("conv", f * m, f * m * 2, 3, bias), ("norm", f * m * 2), None]
        s += [("block", 4 * f)] * o["num_blocks"]
        for m in (4, 2):
            s += [("convT", f * m, f * m // 2, 3, bias), ("norm", f * m // 2), None]
        return s + [None, ("conv", f, c, 7, True), None]
    s, mult = [("conv", c, f, 4, True), None], 1
    for n in range(1, o["num_layers"] + 1):
        prev, mult = mult, min(2 ** n, 8)
        s += [("conv", f * prev, f * mult, 4, bias), ("norm", f * mult), None]
    return s + [("conv", f * mult, 1, 4, True)]


def block_children(c, o):
    bias = o["norm"] != "batch"
    return ([None, ("conv", c, c, 3, bias), ("norm", c), None] + ([None] if o["dropout"] else []) +
            [None, ("conv", c, c, 3, bias), ("norm", c)])


def gan_tensors(children, o, src_prefix, dst_prefix, junyanz_none, rename, expected):
    """Fills `expected` (tessera name -> shape) and `rename` (source name prefix -> tessera's) for the
    children: tessera numbers them consecutively, so without a norm its indices skip junyanz's
    Identity places; junyanz_none: the source has those places (and no biases where junyanz's rule
    drops them: they become zeros)."""
    t = 0
    for j, ch in enumerate(children):
        if ch is not None and ch[0] == "norm" and o["norm"] == "none":
            continue  # tessera: no child at all
        src, dst = f"{src_prefix}{j if junyanz_none else t}.", f"{dst_prefix}{t}."
        rename[src] = dst
        if ch is None:
            pass
        elif ch[0] in ("conv", "convT"):
            _, cin, cout, k, bias = ch
            expected[dst + "weight"] = (cout, cin, k, k) if ch[0] == "conv" else (cin, cout, k, k)
            if bias:  # (norm none: tessera keeps every bias)
                expected[dst + "bias"] = (cout,)
        elif ch[0] == "norm":  # batch norm (instance norm: affine=False, no running statistics)
            if o["norm"] == "batch":
                for n in ("weight", "bias", "running_mean", "running_var"):
                    expected[dst + n] = (ch[1],)
                expected[dst + "num_batches_tracked"] = ()
        else:  # a ResnetBlock
            gan_tensors(block_children(ch[1], o), o, src + "conv_block.", dst + "conv_block.", junyanz_none, rename, expected)
        t += 1


def convert_junyanz(arch, sd, a, source):
    """Options and tessera-named tensors of a junyanz ResnetGenerator / NLayerDiscriminator."""
    first = "model.1.weight" if arch == "resnet_generator" else "model.0.weight"
    if first not in sd or sd[first].dim() != 4:
        raise SystemExit(f"{source} does not look like junyanz's {'ResnetGenerator' if arch == 'resnet_generator' else 'NLayerDiscriminator'} "
                         f"state dict (no 4-D {first}; keys: {', '.join(list(sd)[:6])}, ...)")
    w = sd[first]
    o = {"type": arch, "channels": int(w.shape[1]), "num_feat": int(w.shape[0])}
    # Where the first norm would be (generator: model.2 after the 7x7 conv model.1; PatchGAN: model.3
    # after the second conv model.2), and where the next conv is with a norm (model.4 / model.5) or,
    # numbered as tessera does without one, one place earlier (model.3 / model.4).
    conv, norm_at, next_conv = ("model.1.", "model.2.", 4) if arch == "resnet_generator" else ("model.2.", "model.3.", 5)
    junyanz_none = False
    if f"model.{next_conv - 1}.weight" in sd and sd[f"model.{next_conv - 1}.weight"].dim() == 4:
        norm = "none"  # tessera's own numbering
    elif norm_at + "weight" in sd:
        norm = "batch"
    elif conv + "bias" in sd:
        norm = "instance"
    else:
        norm, junyanz_none = "none", True  # junyanz's --norm none: Identity places, convs without bias
    if a.norm and a.norm != norm:
        raise SystemExit(f"{source}: the weights hold {'an' if norm == 'instance' else 'a'} {norm}-norm network (" +
                         {"batch": f"{norm_at}weight is a batch norm's scale",
                          "instance": f"{conv}bias without {norm_at}weight",
                          "none": "no norm layers"}[norm] + f"), not --norm {a.norm}")
    o["norm"] = norm
    if norm != "batch":  # no batch norm anywhere: running statistics are legacy instance-norm state
        dropped = [k for k in sd if k.endswith((".running_mean", ".running_var", ".num_batches_tracked"))]
        sd = {k: v for k, v in sd.items() if k not in dropped}
        if dropped:
            print(f"dropped {len(dropped)} legacy instance-norm statistics ({dropped[0]}, ...)", file=sys.stderr)
    if arch == "resnet_generator":
        blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.(\d+)\.conv_block\.", k))})
        if not blocks:
            raise SystemExit(f"{source}: no residual blocks (model.N.conv_block.*): not a ResnetGenerator")
        o["num_blocks"] = len(blocks)
        # The second conv of a block: pad, conv, [norm], ReLU, [Dropout], pad, conv.
        convs = sorted({int(m.group(1)) for k, v in sd.items()
                        if (m := re.match(rf"model\.{blocks[0]}\.conv_block\.(\d+)\.weight$", k)) and v.dim() == 4})
        plain = 4 if norm == "none" and not junyanz_none else 5
        if len(convs) != 2 or convs[1] not in (plain, plain + 1):
            raise SystemExit(f"{source}: model.{blocks[0]}.conv_block has convs at {convs}: not a ResnetBlock with reflection padding")
        o["dropout"] = convs[1] == plain + 1
        if a.dropout and not o["dropout"]:
            raise SystemExit(f"{source}: the residual blocks have no Dropout (second conv at conv_block.{convs[1]}), not --dropout")
    else:
        convs = {int(m.group(1)) for k, v in sd.items() if (m := re.match(r"model\.(\d+)\.weight$", k)) and v.dim() == 4}
        o["num_layers"] = len(convs) - 2
        if o["num_layers"] < 1:
            raise SystemExit(f"{source}: {len(convs)} convolutions: not an NLayerDiscriminator")
    o["init_type"], o["init_gain"] = "normal", 0.02  # tessera's options (how a fresh network starts; no effect here)
    o = {k: o[k] for k in ("type", "channels", "num_feat", "num_blocks", "num_layers", "norm", "dropout", "init_type", "init_gain")
         if k in o}
    rename, expected = {}, {}
    gan_tensors(gan_children(arch, o), o, "model.", "model.", junyanz_none, rename, expected)
    out = {}
    for k, v in sd.items():
        src = max((p for p in rename if k.startswith(p)), key=len, default=None)
        out[rename[src] + k[len(src):] if src else k] = v
    for k, shape in expected.items():  # junyanz's 'none' drops the biases tessera keeps: zeros
        if k.endswith(".bias") and k not in out and junyanz_none:
            out[k] = torch.zeros(shape)
    return o, check_tensors(out, expected, source, arch, optional=("num_batches_tracked",))


def convert_unet_sn(sd, a, source):
    if "conv0.weight" not in sd or "conv1.weight_orig" not in sd:
        raise SystemExit(f"{source} does not look like Real-ESRGAN's UNetDiscriminatorSN state dict (conv0.weight, conv1.weight_orig)")
    f, c = (int(n) for n in sd["conv0.weight"].shape[:2])
    o = {"type": "unet_discriminator_sn", "channels": c, "num_feat": f, "skip_connection": not a.no_skip}
    # spectral_norm's weight is recomputed from weight_orig, u and v; a saved copy of it is dropped.
    sd = {k: v for k, v in sd.items() if not (k.endswith(".weight") and k[:-6] + "weight_orig" in sd)}
    expected = {"conv0.weight": (f, c, 3, 3), "conv0.bias": (f,), "conv9.weight": (1, f, 3, 3), "conv9.bias": (1,)}
    spec = [(f, 2 * f, 4), (2 * f, 4 * f, 4), (4 * f, 8 * f, 4), (8 * f, 4 * f, 3), (4 * f, 2 * f, 3), (2 * f, f, 3), (f, f, 3), (f, f, 3)]
    for i, (cin, cout, k) in enumerate(spec, 1):
        expected.update({f"conv{i}.weight_orig": (cout, cin, k, k), f"conv{i}.weight_u": (cout,), f"conv{i}.weight_v": (cin * k * k,)})
    return o, check_tensors(sd, expected, source, "unet_discriminator_sn")


def check_tensors(sd, expected, source, arch, optional=()):
    missing = [k for k in expected if k not in sd and not k.endswith(optional)]
    unexpected = [k for k in sd if k not in expected]
    wrong = [f"{k} {tuple(sd[k].shape)} (expected {expected[k]})" for k in expected if k in sd and tuple(sd[k].shape) != expected[k]]
    if missing or unexpected or wrong:
        raise SystemExit(f"{source} does not match the {arch} layout read from its weights: " +
                         "; ".join(f"{what}: {', '.join(ks[:5])}{', ...' if len(ks) > 5 else ''}"
                                   for what, ks in [("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)] if ks))
    return sd


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--arch", required=True, choices=["edsr", "wdsr", "srresnet", "rrdbnet", "espcn", "vgg", "transformer_net",
                                                     "resnet_generator", "patchgan", "unet_discriminator_sn"])
    p.add_argument("--scale", type=int, help="upscale factor (SR archs)")
    p.add_argument("--key", help="dict key holding the state dict (default: params_ema, params, state_dict, model)")
    p.add_argument("--res-scale", type=float, default=None, help="EDSR/WDSR residual scaling (EDSR full: 0.1)")
    p.add_argument("--variant", choices=["a", "b"], default="a", help="WDSR variant")
    p.add_argument("--activation", choices=["tanh", "relu"], default="tanh", help="ESPCN activation")
    p.add_argument("--norm", choices=["instance", "batch", "none"],
                   help="resnet_generator/patchgan norm (default: read from the weights; if given, they must agree)")
    p.add_argument("--dropout", action="store_true", help="resnet_generator: the blocks have Dropout (read from the weights too)")
    p.add_argument("--no-skip", action="store_true", help="unet_discriminator_sn without skip connections (skip_connection: false)")
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
    if a.arch in ("resnet_generator", "patchgan", "unet_discriminator_sn"):
        if a.scale not in (None, 1):
            p.error(f"--arch {a.arch} keeps the image size: no --scale")
        opts, sd = convert_unet_sn(sd, a, a.input) if a.arch == "unet_discriminator_sn" else convert_junyanz(a.arch, sd, a, a.input)
        meta = {"format": "pt", "tessera.arch": yaml.safe_dump(opts, sort_keys=False), "tessera.type": a.arch,
                "tessera.task": "image_to_image" if a.arch == "resnet_generator" else "critic", "tessera.scale": "1",
                "tessera.converted_from": a.input}
        save_file(sd, a.output, metadata=meta)
        print(f"wrote {a.output}: {a.arch} {opts}", file=sys.stderr)
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
