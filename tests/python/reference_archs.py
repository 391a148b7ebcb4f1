"""The PyTorch modules equivalent to tessera's archs, written from the papers / official code
(BasicSR's EDSR layout, the official WDSR code, SRResNet as in Ledig et al., ESRGAN's RRDBNet and
VGG-style discriminator, CycleGAN/pix2pix's ResNet generator and PatchGAN, Real-ESRGAN's U-Net
discriminator, fast_neural_style's TransformerNet). tessera's weight files load into these with
load_state_dict(strict=True); the tests and bench/ use them."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm, weight_norm


def upsampler(scale, feat, prelu=False):
    layers = []
    stages = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    for r in stages:
        layers += [nn.Conv2d(feat, r * r * feat, 3, 1, 1), nn.PixelShuffle(r)]
        if prelu:
            layers.append(nn.PReLU(feat))
    return nn.Sequential(*layers)


class ResidualBlockNoBN(nn.Module):
    def __init__(self, feat, res_scale):
        super().__init__()
        self.conv1 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(feat, feat, 3, 1, 1)
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x))) * self.res_scale


class EDSR(nn.Module):
    def __init__(self, scale=2, channels=3, num_feat=64, num_block=16, res_scale=1.0, img_range=255.0,
                 rgb_mean=(0.4488, 0.4371, 0.4040)):
        super().__init__()
        self.img_range = img_range
        self.mean = torch.tensor(rgb_mean).view(1, 3, 1, 1)
        self.conv_first = nn.Conv2d(channels, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat, res_scale) for _ in range(num_block)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = upsampler(scale, num_feat)
        self.conv_last = nn.Conv2d(num_feat, channels, 3, 1, 1)

    def forward(self, x):
        mean = self.mean.type_as(x)
        x = (x - mean) * self.img_range
        x = self.conv_first(x)
        res = self.conv_after_body(self.body(x)) + x
        return self.conv_last(self.upsample(res)) / self.img_range + mean


class ESPCN(nn.Module):
    def __init__(self, scale=2, channels=3, feat1=64, feat2=32, activation="tanh"):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, feat1, 5, 1, 2)
        self.conv2 = nn.Conv2d(feat1, feat2, 3, 1, 1)
        self.conv3 = nn.Conv2d(feat2, channels * scale * scale, 3, 1, 1)
        self.shuffle = nn.PixelShuffle(scale)
        self.act = torch.tanh if activation == "tanh" else F.relu

    def forward(self, x):
        return self.shuffle(self.conv3(self.act(self.conv2(self.act(self.conv1(x))))))


class WdsrBlock(nn.Module):
    def __init__(self, variant, feat, expansion, low_rank, res_scale):
        super().__init__()
        wide = feat * expansion
        if variant == "a":
            body = [weight_norm(nn.Conv2d(feat, wide, 3, padding=1)), nn.ReLU(True),
                    weight_norm(nn.Conv2d(wide, feat, 3, padding=1))]
        else:
            lr = int(feat * low_rank)
            body = [weight_norm(nn.Conv2d(feat, wide, 1)), nn.ReLU(True), weight_norm(nn.Conv2d(wide, lr, 1)),
                    weight_norm(nn.Conv2d(lr, feat, 3, padding=1))]
        self.body = nn.Sequential(*body)
        self.res_scale = res_scale

    def forward(self, x):
        return self.body(x) * self.res_scale + x


class WDSR(nn.Module):
    def __init__(self, variant="a", scale=2, channels=3, num_feat=32, num_block=16, expansion=4, low_rank=0.8,
                 res_scale=1.0, rgb_mean=(0.4488, 0.4371, 0.4040)):
        super().__init__()
        out = scale * scale * channels
        self.mean = torch.tensor(rgb_mean).view(1, 3, 1, 1)
        self.head = nn.Sequential(weight_norm(nn.Conv2d(channels, num_feat, 3, padding=1)))
        self.body = nn.Sequential(*[WdsrBlock(variant, num_feat, expansion, low_rank, res_scale) for _ in range(num_block)])
        self.tail = nn.Sequential(weight_norm(nn.Conv2d(num_feat, out, 3, padding=1)), nn.PixelShuffle(scale))
        self.skip = nn.Sequential(weight_norm(nn.Conv2d(channels, out, 5, padding=2)), nn.PixelShuffle(scale))

    def forward(self, x):
        # The official code on [0, 255] images: (x - 255 mean) / 127.5 ... x * 127.5 + 255 mean.
        x = (x * 255 - self.mean * 255) / 127.5
        y = self.tail(self.body(self.head(x))) + self.skip(x)
        return (y * 127.5 + self.mean * 255) / 255


class SrResBlock(nn.Module):
    def __init__(self, feat):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(feat, feat, 3, 1, 1), nn.BatchNorm2d(feat)
        self.prelu = nn.PReLU(feat)
        self.conv2, self.bn2 = nn.Conv2d(feat, feat, 3, 1, 1), nn.BatchNorm2d(feat)

    def forward(self, x):
        return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    def __init__(self, scale=4, channels=3, num_feat=64, num_block=16):
        super().__init__()
        self.conv_first = nn.Conv2d(channels, num_feat, 9, 1, 4)
        self.prelu_first = nn.PReLU(num_feat)
        self.body = nn.Sequential(*[SrResBlock(num_feat) for _ in range(num_block)])
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn_after_body = nn.BatchNorm2d(num_feat)
        self.upsample = upsampler(scale, num_feat, prelu=True)
        self.conv_last = nn.Conv2d(num_feat, channels, 9, 1, 4)

    def forward(self, x):
        x = self.prelu_first(self.conv_first(x))
        r = self.bn_after_body(self.conv_after_body(self.body(x))) + x
        return self.conv_last(self.upsample(r))


# BasicSR basicsr/archs/rrdbnet_arch.py (ESRGAN), written out: names and forward as there.
class ResidualDenseBlock(nn.Module):
    def __init__(self, num_feat=64, num_grow_ch=32):
        super().__init__()
        f, g = num_feat, num_grow_ch
        self.conv1 = nn.Conv2d(f, g, 3, 1, 1)
        self.conv2 = nn.Conv2d(f + g, g, 3, 1, 1)
        self.conv3 = nn.Conv2d(f + 2 * g, g, 3, 1, 1)
        self.conv4 = nn.Conv2d(f + 3 * g, g, 3, 1, 1)
        self.conv5 = nn.Conv2d(f + 4 * g, f, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, num_feat, num_grow_ch=32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x):
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, scale=4, channels=3, num_feat=64, num_block=23, num_grow_ch=32):
        super().__init__()
        self.scale = scale
        num_in_ch = channels * (4 if scale == 2 else 16 if scale == 1 else 1)
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        feat = F.pixel_unshuffle(x, 2) if self.scale == 2 else F.pixel_unshuffle(x, 4) if self.scale == 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


# BasicSR basicsr/archs/discriminator_arch.py VGGStyleDiscriminator, written out (names as there;
# 96 px inputs as the SRGAN paper's patches: linear1 then takes 8f x 3 x 3).
class VGGStyleDiscriminator(nn.Module):
    def __init__(self, channels=3, num_feat=64, input_size=128):
        super().__init__()
        self.input_size = input_size
        f, mult = num_feat, [1, 2, 4, 8, 8, 8]
        stages = 6 if input_size == 256 else 5
        cin = channels
        for s in range(stages):
            out = f * mult[s]
            setattr(self, f"conv{s}_0", nn.Conv2d(cin, out, 3, 1, 1, bias=(s == 0)))
            if s > 0:
                setattr(self, f"bn{s}_0", nn.BatchNorm2d(out, affine=True))
            setattr(self, f"conv{s}_1", nn.Conv2d(out, out, 4, 2, 1, bias=False))
            setattr(self, f"bn{s}_1", nn.BatchNorm2d(out, affine=True))
            cin = out
        self.stages = stages
        side = input_size // (64 if input_size == 256 else 32)
        self.linear1 = nn.Linear(f * 8 * side * side, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        assert x.size(2) == self.input_size, f"input size must be {self.input_size}"
        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))
        for s in range(1, self.stages):
            feat = self.lrelu(getattr(self, f"bn{s}_0")(getattr(self, f"conv{s}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{s}_1")(getattr(self, f"conv{s}_1")(feat)))
        feat = self.lrelu(self.linear1(feat.view(feat.size(0), -1)))
        return self.linear2(feat)


# junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py, written out: ResnetGenerator (with
# ResnetBlock, padding_type 'reflect') and NLayerDiscriminator, names model.N as there. Their
# inputs and outputs are in [-1, 1] (tessera's networks map [0, 1] to that inside: unit_range_forward).
# norm: get_norm_layer's 'instance' (InstanceNorm2d, affine=False, track_running_stats=False) or
# 'batch' (BatchNorm2d), conv biases only without batch norm. norm 'none' follows tessera by default
# (no norm children at all, so the indices are consecutive, and conv biases kept); junyanz_none=True
# gives junyanz's own 'none' instead (an nn.Identity in each norm place, and no biases since junyanz's
# use_bias is norm == instance).
def _norm_layers(norm, c, junyanz_none):
    if norm == "batch":
        return [nn.BatchNorm2d(c, affine=True, track_running_stats=True)]
    if norm == "instance":
        return [nn.InstanceNorm2d(c, affine=False, track_running_stats=False)]
    return [nn.Identity()] if junyanz_none else []


def _use_bias(norm, junyanz_none):
    return norm == "instance" or (norm == "none" and not junyanz_none)


class ResnetBlock(nn.Module):
    def __init__(self, dim, norm, use_dropout, use_bias, junyanz_none=False):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                 *_norm_layers(norm, dim, junyanz_none), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
                  *_norm_layers(norm, dim, junyanz_none)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, channels=3, num_feat=64, num_blocks=9, norm="instance", dropout=False, init_type="normal", init_gain=0.02,
                 junyanz_none=False):
        super().__init__()
        ngf, use_bias = num_feat, _use_bias(norm, junyanz_none)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, kernel_size=7, padding=0, bias=use_bias),
                 *_norm_layers(norm, ngf, junyanz_none), nn.ReLU(True)]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                      *_norm_layers(norm, ngf * mult * 2, junyanz_none), nn.ReLU(True)]
        mult = 2 ** n_downsampling
        for i in range(num_blocks):
            model += [ResnetBlock(ngf * mult, norm, dropout, use_bias, junyanz_none)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            model += [nn.ConvTranspose2d(ngf * mult, int(ngf * mult / 2), kernel_size=3, stride=2, padding=1,
                                         output_padding=1, bias=use_bias),
                      *_norm_layers(norm, int(ngf * mult / 2), junyanz_none), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, channels=3, num_feat=64, num_layers=3, norm="instance", init_type="normal", init_gain=0.02, junyanz_none=False):
        super().__init__()
        ndf, use_bias, kw, padw = num_feat, _use_bias(norm, junyanz_none), 4, 1
        sequence = [nn.Conv2d(channels, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
        nf_mult = 1
        for n in range(1, num_layers):
            nf_mult_prev, nf_mult = nf_mult, min(2 ** n, 8)
            sequence += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw, bias=use_bias),
                         *_norm_layers(norm, ndf * nf_mult, junyanz_none), nn.LeakyReLU(0.2, True)]
        nf_mult_prev, nf_mult = nf_mult, min(2 ** num_layers, 8)
        sequence += [nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw, bias=use_bias),
                     *_norm_layers(norm, ndf * nf_mult, junyanz_none), nn.LeakyReLU(0.2, True)]
        sequence += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*sequence)

    def forward(self, x):
        return self.model(x)


# Real-ESRGAN realesrgan/archs/discriminator_arch.py UNetDiscriminatorSN, written out (num_in_ch is
# called channels here). spectral_norm's state is weight_orig, weight_u, weight_v; in eval mode it
# uses the stored u and v without a power iteration.
class UNetDiscriminatorSN(nn.Module):
    def __init__(self, channels=3, num_feat=64, skip_connection=True):
        super().__init__()
        self.skip_connection = skip_connection
        norm = spectral_norm
        self.conv0 = nn.Conv2d(channels, num_feat, kernel_size=3, stride=1, padding=1)
        self.conv1 = norm(nn.Conv2d(num_feat, num_feat * 2, 4, 2, 1, bias=False))
        self.conv2 = norm(nn.Conv2d(num_feat * 2, num_feat * 4, 4, 2, 1, bias=False))
        self.conv3 = norm(nn.Conv2d(num_feat * 4, num_feat * 8, 4, 2, 1, bias=False))
        self.conv4 = norm(nn.Conv2d(num_feat * 8, num_feat * 4, 3, 1, 1, bias=False))
        self.conv5 = norm(nn.Conv2d(num_feat * 4, num_feat * 2, 3, 1, 1, bias=False))
        self.conv6 = norm(nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1, bias=False))
        self.conv7 = norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv8 = norm(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(num_feat, 1, 3, 1, 1)

    def forward(self, x):
        x0 = F.leaky_relu(self.conv0(x), negative_slope=0.2, inplace=True)
        x1 = F.leaky_relu(self.conv1(x0), negative_slope=0.2, inplace=True)
        x2 = F.leaky_relu(self.conv2(x1), negative_slope=0.2, inplace=True)
        x3 = F.leaky_relu(self.conv3(x2), negative_slope=0.2, inplace=True)
        x3 = F.interpolate(x3, scale_factor=2, mode="bilinear", align_corners=False)
        x4 = F.leaky_relu(self.conv4(x3), negative_slope=0.2, inplace=True)
        if self.skip_connection:
            x4 = x4 + x2
        x4 = F.interpolate(x4, scale_factor=2, mode="bilinear", align_corners=False)
        x5 = F.leaky_relu(self.conv5(x4), negative_slope=0.2, inplace=True)
        if self.skip_connection:
            x5 = x5 + x1
        x5 = F.interpolate(x5, scale_factor=2, mode="bilinear", align_corners=False)
        x6 = F.leaky_relu(self.conv6(x5), negative_slope=0.2, inplace=True)
        if self.skip_connection:
            x6 = x6 + x0
        out = F.leaky_relu(self.conv7(x6), negative_slope=0.2, inplace=True)
        out = F.leaky_relu(self.conv8(out), negative_slope=0.2, inplace=True)
        return self.conv9(out)


def unit_range_forward(kind, module, x):
    """What tessera's network of type `kind` computes for images x in [0, 1], from the raw reference
    module: the junyanz networks work in [-1, 1] (the generator's output is mapped back by (y + 1) / 2,
    PatchGAN's patch scores are returned as they are); the others take x as it is."""
    if kind == "resnet_generator":
        return (module(x * 2 - 1) + 1) / 2
    if kind == "patchgan":
        return module(x * 2 - 1)
    return module(x)


def build(options):
    """Builds the module from tessera's arch options (a checkpoint's 'tessera.arch' metadata). The
    image-to-image GAN archs come back raw (junyanz's [-1, 1] range): see unit_range_forward."""
    o = dict(options)
    kind = o.pop("type")
    if "rgb_mean" in o:
        o["rgb_mean"] = tuple(o["rgb_mean"])
    return {"edsr": EDSR, "espcn": ESPCN, "wdsr": WDSR, "srresnet": SRResNet, "rrdbnet": RRDBNet,
            "vgg_discriminator": VGGStyleDiscriminator, "resnet_generator": ResnetGenerator,
            "patchgan": NLayerDiscriminator, "unet_discriminator_sn": UNetDiscriminatorSN}[kind](**o)


# pytorch/examples fast_neural_style/neural_style/transformer_net.py, written out (inputs in [0, 255]).
class ConvLayer(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class StyleResidualBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.in1 = ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        self.conv2, self.in2 = ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)

    def forward(self, x):
        return x + self.in2(self.conv2(F.relu(self.in1(self.conv1(x)))))


class UpsampleConvLayer(nn.Module):
    def __init__(self, cin, cout, kernel, stride, upsample):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x):
        x = F.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    def __init__(self, base=32, num_res=5):
        super().__init__()
        b = base
        self.conv1, self.in1 = ConvLayer(3, b, 9, 1), nn.InstanceNorm2d(b, affine=True)
        self.conv2, self.in2 = ConvLayer(b, 2 * b, 3, 2), nn.InstanceNorm2d(2 * b, affine=True)
        self.conv3, self.in3 = ConvLayer(2 * b, 4 * b, 3, 2), nn.InstanceNorm2d(4 * b, affine=True)
        for i in range(num_res):
            setattr(self, f"res{i + 1}", StyleResidualBlock(4 * b))
        self.num_res = num_res
        self.deconv1, self.in4 = UpsampleConvLayer(4 * b, 2 * b, 3, 1, 2), nn.InstanceNorm2d(2 * b, affine=True)
        self.deconv2, self.in5 = UpsampleConvLayer(2 * b, b, 3, 1, 2), nn.InstanceNorm2d(b, affine=True)
        self.deconv3 = ConvLayer(b, 3, 9, 1)

    def forward(self, x):
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(self.num_res):
            y = getattr(self, f"res{i + 1}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)
