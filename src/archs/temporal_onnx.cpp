// ONNX graph of one temporal_sr frame step (docs/temporal_sr.md), op for op the step in temporal.cpp:
// the Catmull-Rom warps as 16 GatherElements of clamped taps (ONNX's GridSample "cubic" is a = -0.75,
// not Catmull-Rom's -0.5), MATLAB bicubic x s as symmetric padding and one 5-tap convolution per
// output phase, the YCoCg clamp as 1x1 convolutions and max pools over an edge-padded frame.
#include <limits>

#include "tessera/archs/temporal.h"
#include "tessera/export/onnx_graph.h"
#include "tessera/nn/onnx_emit.h"
#include "tessera/ops/ops.h"

namespace tessera::archs {

namespace {

using exporter::OnnxGraph;
using S = std::string;

struct Emit {
  OnnxGraph& g;
  S node(const S& op, const std::vector<S>& in, const S& name, const exporter::Attrs& attrs = {}) { return g.add_node(op, in, name, attrs); }
  S f(float v) { return g.add_scalar("c", v); }
  S i64(const std::vector<int64_t>& v) { return g.add_initializer_i64("i", {static_cast<int64_t>(v.size())}, v.data()); }
  S i64s(int64_t v) { return g.add_initializer_i64("i", {}, &v); }
  S add(const S& a, const S& b) { return node("Add", {a, b}, "add"); }
  S sub(const S& a, const S& b) { return node("Sub", {a, b}, "sub"); }
  S mul(const S& a, const S& b) { return node("Mul", {a, b}, "mul"); }
  S shape(const S& x) { return node("Shape", {x}, "shape"); }
  // dims [a, b) of x's shape, as a 1-D int64 tensor
  S dims(const S& x, int64_t a, int64_t b) { return node("Slice", {shape(x), i64({a}), i64({b}), i64({0})}, "dims"); }
  S dim(const S& x, int64_t i) { return node("Gather", {shape(x), i64s(i)}, "dim", {{"axis", int64_t{0}}}); }
  S slice(const S& x, int64_t axis, int64_t a, int64_t b, int64_t step = 1) {
    return node("Slice", {x, i64({a}), i64({b}), i64({axis}), i64({step})}, "slice");
  }
  S reshape(const S& x, const S& shape_tensor) { return node("Reshape", {x, shape_tensor}, "reshape"); }
  S concat(const std::vector<S>& xs, int64_t axis) { return node("Concat", xs, "concat", {{"axis", axis}}); }
  S to_float(const S& x) { return node("Cast", {x}, "cast", {{"to", int64_t{1}}}); }
  S to_i64(const S& x) { return node("Cast", {x}, "cast", {{"to", int64_t{7}}}); }

  // 0..n-1 as float, shaped for broadcasting along `axis` of a 4-D tensor (axis 2 or 3).
  S grid(const S& x, int64_t axis) {
    S r = to_float(node("Range", {i64s(0), dim(x, axis), i64s(1)}, "range"));
    return reshape(r, i64(axis == 3 ? std::vector<int64_t>{1, -1} : std::vector<int64_t>{-1, 1}));
  }

  std::array<S, 4> catmull_rom(const S& t) {
    // ((-t + 2) t - 1) t / 2, ((3 t - 5) t t + 2) / 2, ((-3 t + 4) t + 1) t / 2, (t - 1) t t / 2
    const S tt = mul(t, t);
    return {mul(mul(sub(mul(sub(f(2), t), t), f(1)), t), f(0.5f)), mul(add(mul(sub(mul(f(3), t), f(5)), tt), f(2)), f(0.5f)),
            mul(mul(add(mul(sub(f(4), mul(f(3), t)), t), f(1)), t), f(0.5f)), mul(mul(sub(t, f(1)), tt), f(0.5f))};
  }

  // warp_catmull_rom(img, flow): img [N,C,H,W], flow [N,2,H,W].
  S warp(const S& img, const S& flow) {
    const S W = dim(img, 3), H = dim(img, 2);
    const S Wf = to_float(W), Hf = to_float(H);
    auto position = [&](int64_t c, const S& base, const S& size) {
      S u = add(base, slice(flow, 1, c, c + 1));
      return node("Max", {node("Min", {u, add(size, f(3))}, "min"), f(-4)}, "max");
    };
    const S u = position(0, grid(img, 3), Wf), v = position(1, grid(img, 2), Hf);
    const S fu = node("Floor", {u}, "floor"), fv = node("Floor", {v}, "floor");
    const auto wu = catmull_rom(sub(u, fu)), wv = catmull_rom(sub(v, fv));
    const S iu = to_i64(fu), iv = to_i64(fv);
    auto clampi = [&](const S& i, int64_t k, const S& n) {
      S j = add(i, i64s(k - 1));
      return node("Max", {node("Min", {j, sub(n, i64s(1))}, "min"), i64s(0)}, "max");
    };
    const S flat = reshape(img, i64({0, 0, -1}));
    const S expand_to = node("Shape", {flat}, "shape");
    S out;
    for (int a = 0; a < 4; ++a) {
      const S row = mul(clampi(iv, a, H), W);
      for (int b = 0; b < 4; ++b) {
        S idx = reshape(add(row, clampi(iu, b, W)), i64({0, 1, -1}));
        idx = node("Expand", {idx, expand_to}, "expand");
        S s = node("GatherElements", {flat, idx}, "gather", {{"axis", int64_t{2}}});
        s = reshape(s, shape(img));
        s = mul(s, mul(wv[a], wu[b]));
        out = out.empty() ? s : add(out, s);
      }
    }
    return out;
  }

  // MATLAB bicubic x s along axis 2 of [N,C,H,W] (rows): symmetric padding of 2, one 5-tap
  // filter per output phase, phases interleaved.
  S upsample_rows(const S& x, int64_t s) {
    const auto taps = ops::bicubic_taps(16, 16 * s, static_cast<double>(s), false);
    torch::Tensor w = torch::zeros({s, 1, 5, 1});
    for (int64_t p = 0; p < s; ++p)
      for (const auto& [index, weight] : taps[8 * s + p]) {
        if (weight == 0) continue;  // MATLAB's window has ceil(4) + 2 taps, the outer ones zero when enlarging
        const int64_t off = index - 8;
        TORCH_CHECK(off >= -2 && off <= 2, "bicubic tap offset ", off, " outside the 5-tap window");
        w[p][0][off + 2][0] = weight;
      }
    const S top = slice(x, 2, 1, std::numeric_limits<int64_t>::min(), -1);  // rows 1, 0
    const S bottom = slice(x, 2, -1, -3, -1);                                 // rows H-1, H-2
    S padded = concat({top, x, bottom}, 2);
    S planes = reshape(padded, i64({-1, 1, 0, 0}));
    S y = node("Conv", {planes, exporter::tensor_init(g, "bicubic_phases", w)}, "bicubic", {{"kernel_shape", std::vector<int64_t>{5, 1}}});
    y = node("Transpose", {y}, "interleave", {{"perm", std::vector<int64_t>{0, 2, 1, 3}}});
    y = reshape(y, concat({i64({0, -1}), dims(x, 3, 4)}, 0));  // [NC, H s, W]
    return reshape(y, concat({dims(x, 0, 2), i64({-1}), dims(x, 3, 4)}, 0));
  }
  S transpose_hw(const S& x) { return node("Transpose", {x}, "transpose", {{"perm", std::vector<int64_t>{0, 1, 3, 2}}}); }
  S upsample(const S& x, int64_t s) { return transpose_hw(upsample_rows(transpose_hw(upsample_rows(x, s)), s)); }

  // 1 where pixel centre + flow lies inside the frame, [N,1,H,W] float.
  S inside(const S& flow) {
    const S x = add(add(grid(flow, 3), f(0.5f)), slice(flow, 1, 0, 1)), y = add(add(grid(flow, 2), f(0.5f)), slice(flow, 1, 1, 2));
    const S W = to_float(dim(flow, 3)), H = to_float(dim(flow, 2));
    auto in_range = [&](const S& v, const S& n) {
      return node("And", {node("GreaterOrEqual", {v, f(0)}, "ge"), node("Less", {v, n}, "lt")}, "and");
    };
    return to_float(node("And", {in_range(x, W), in_range(y, H)}, "and"));
  }

  S ycocg(const S& x, bool inverse) {
    torch::Tensor m = inverse ? torch::tensor({1.0f, 1.0f, -1.0f, 1.0f, 0.0f, 1.0f, 1.0f, -1.0f, -1.0f})
                              : torch::tensor({0.25f, 0.5f, 0.25f, 0.5f, 0.0f, -0.5f, -0.25f, 0.5f, -0.25f});
    return node("Conv", {x, exporter::tensor_init(g, inverse ? "from_ycocg" : "to_ycocg", m.view({3, 3, 1, 1}))}, "ycocg",
                {{"kernel_shape", std::vector<int64_t>{1, 1}}});
  }

  S history_clamp(const S& history, const S& current, int64_t radius) {
    const int64_t k = 2 * radius + 1;
    S cur = node("Pad", {ycocg(current, false), i64({0, 0, radius, radius, 0, 0, radius, radius})}, "pad", {{"mode", S("edge")}});
    const exporter::Attrs pool{{"kernel_shape", std::vector<int64_t>{k, k}}, {"strides", std::vector<int64_t>{1, 1}}};
    S hi = node("MaxPool", {cur}, "box_max", pool);
    S lo = node("Neg", {node("MaxPool", {node("Neg", {cur}, "neg")}, "box_min", pool)}, "neg");
    S y = node("Min", {node("Max", {ycocg(history, false), lo}, "max"), hi}, "min");
    return ycocg(y, true);
  }

  S space_to_depth(const S& x, const S& like_lr, int64_t s) {
    // [N,C,h s,w s] -> [N,C,h,s,w,s] -> [N,C,s,s,h,w] -> [N,C s^2,h,w] (PyTorch's pixel_unshuffle order)
    S six = concat({dims(like_lr, 0, 1), i64({3}), dims(like_lr, 2, 3), i64({s}), dims(like_lr, 3, 4), i64({s})}, 0);
    S y = node("Transpose", {reshape(x, six)}, "s2d", {{"perm", std::vector<int64_t>{0, 1, 3, 5, 2, 4}}});
    return reshape(y, concat({dims(like_lr, 0, 1), i64({3 * s * s}), dims(like_lr, 2, 4)}, 0));
  }
};

}  // namespace

std::string emit_temporal_step(exporter::OnnxGraph& g, TemporalSrImpl& net, const std::string& frame, const std::string& motion,
                               const std::string& jitter, const std::string& history, const std::string& has_history) {
  Emit e{g};
  const int64_t s = net.opt.scale;
  const S jit = e.node("Expand", {e.reshape(jitter, e.i64({-1, 2, 1, 1})), e.shape(motion)}, "jitter_planes");
  const S up = e.upsample(e.warp(frame, jit), s);
  S y, out;
  if (!net.opt.history) {
    y = exporter::emit(g, *net.body, e.concat({frame, jit}, 1), "body");
    y = e.node("DepthToSpace", {y}, "depth_to_space", {{"blocksize", s}, {"mode", S("CRD")}});
    return e.add(up, y);
  }
  const S has = e.reshape(has_history, e.i64({-1, 1, 1, 1}));
  const S flow = e.mul(e.node("Resize", {motion, "", e.g.add_initializer("scales", {4}, std::vector<float>{1, 1, float(s), float(s)}.data())}, "nearest",
                              {{"mode", S("nearest")}, {"coordinate_transformation_mode", S("asymmetric")}, {"nearest_mode", S("floor")}}),
                       e.f(static_cast<float>(s)));
  const S valid = e.mul(e.inside(flow), has), valid_lr = e.mul(e.inside(motion), has);
  // No history (has_history 0): the warped history is the upsampled frame, as in the C++ step
  // (a Where, so whatever `history` holds then, NaN included, cannot leak in).
  const S warped = e.node("Where", {e.node("Greater", {has, e.f(0)}, "has"), e.warp(history, flow), up}, "history_or_frame");
  const S clamped = e.history_clamp(warped, up, net.opt.clamp_radius);
  const S x = e.concat({frame, jit, motion, valid_lr, e.space_to_depth(clamped, frame, s), e.space_to_depth(warped, frame, s)}, 1);
  y = exporter::emit(g, *net.body, x, "body");
  y = e.node("DepthToSpace", {y}, "depth_to_space", {{"blocksize", s}, {"mode", S("CRD")}});
  const S a = e.mul(e.node("Sigmoid", {e.slice(y, 1, 3, 4)}, "blend"), valid);
  out = e.add(e.add(e.mul(a, clamped), e.mul(e.sub(e.f(1), a), up)), e.slice(y, 1, 0, 3));
  return out;
}

}  // namespace tessera::archs
