// tessera::instance_norm_act's CPU loops, compiled once per instruction set (see cpu_dispatch.h).
// Statistics are two-pass (mean, then the sum of squared deviations) in float (double for double
// inputs). NCHW: one plane per task. Channels-last: for each sample, per-channel sums over rows
// split across threads (one buffer per thread), then one elementwise pass; no layout copies.
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <vector>

#include "../instance_norm.h"

namespace tessera::ops::cpu::CPU_CAPABILITY {

namespace {

using instance_norm_detail::Layout;
template <class T>
using Acc = at::opmath_type<T>;
template <class T>
using AV = at::vec::Vectorized<Acc<T>>;

template <class T>
inline AV<T> vload(const T* p) {
  if constexpr (std::is_same_v<T, Acc<T>>) {
    return AV<T>::loadu(p);
  } else {
    at::vec::Vectorized<float> v;
    at::vec::load_to_float<T>(p, v);
    return v;
  }
}

template <class T>
inline void vstore(T* p, const AV<T>& v) {
  if constexpr (std::is_same_v<T, Acc<T>>) v.store(p);
  else at::vec::convert_from_float<T>(v, v).store(p, AV<T>::size());
}

template <class V>
inline typename V::value_type hsum(const V& v) {
  return at::vec::vec_reduce_all([](V a, V b) { return a + b; }, v);
}

// y = act(z): z where z > 0, z * neg elsewhere.
template <class V>
inline V activate_v(const V& z, const V& neg) {
  return V::blendv(z * neg, z, z > V(0));
}

template <class T>
void forward_nchw(const Layout& L, const T* x, const Acc<T>* w, const Acc<T>* b, T* out, Acc<T>* mean, Acc<T>* rstd, double eps,
                  Acc<T> neg, bool act) {
  using A = Acc<T>;
  using V = AV<T>;
  const int64_t M = L.m, K = V::size();
  at::parallel_for(0, L.n * L.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * M;
      T* op = out + p * M;
      const int64_t c = p % L.c;
      V acc(0);
      int64_t i = 0;
      for (; i + K <= M; i += K) acc += vload(xp + i);
      A s = hsum(acc);
      for (; i < M; ++i) s += static_cast<A>(xp[i]);
      const A mu = s / static_cast<A>(M);
      const V vmu(mu);
      V acc2(0);
      for (i = 0; i + K <= M; i += K) {
        const V d = vload(xp + i) - vmu;
        acc2 = at::vec::fmadd(d, d, acc2);
      }
      A ss = hsum(acc2);
      for (; i < M; ++i) ss += (static_cast<A>(xp[i]) - mu) * (static_cast<A>(xp[i]) - mu);
      const A rs = A(1) / std::sqrt(ss / static_cast<A>(M) + static_cast<A>(eps));
      mean[p] = mu;
      rstd[p] = rs;
      const A scale = rs * w[c], shift = b[c] - mu * scale;
      const V vs(scale), vsh(shift), vneg(neg);
      for (i = 0; i + K <= M; i += K) {
        V z = at::vec::fmadd(vload(xp + i), vs, vsh);
        vstore(op + i, act ? activate_v(z, vneg) : z);
      }
      for (; i < M; ++i) {
        A z = static_cast<A>(xp[i]) * scale + shift;
        if (act && !(z > A(0))) z *= neg;
        op[i] = static_cast<T>(z);
      }
    }
  });
}

// Per-channel sums over the rows of one channels-last sample: f(row pointer, thread buffer).
template <class A, class F>
void channel_sums(int64_t rows, int64_t c, int nbuf, std::vector<A>& buf, std::vector<A>& total, F&& f) {
  std::fill(buf.begin(), buf.end(), A(0));
  at::parallel_for(0, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, c)), [&](int64_t begin, int64_t end) {
    A* s = buf.data() + static_cast<size_t>(at::get_thread_num()) * nbuf * c;
    for (int64_t r = begin; r < end; ++r) f(r, s);
  });
  total.assign(static_cast<size_t>(nbuf * c), A(0));
  const int threads = static_cast<int>(buf.size() / (static_cast<size_t>(nbuf) * c));
  for (int t = 0; t < threads; ++t)
    for (int64_t k = 0; k < nbuf * c; ++k) total[k] += buf[static_cast<size_t>(t) * nbuf * c + k];
}

template <class T>
void forward_cl(const Layout& L, const T* x, const Acc<T>* w, const Acc<T>* b, T* out, Acc<T>* mean, Acc<T>* rstd, double eps,
                Acc<T> neg, bool act) {
  using A = Acc<T>;
  using V = AV<T>;
  const int64_t C = L.c, M = L.m, K = V::size();
  std::vector<A> buf(static_cast<size_t>(at::get_num_threads()) * C), total, scale(C), shift(C);
  for (int64_t n = 0; n < L.n; ++n) {
    const T* xn = x + n * M * C;
    T* on = out + n * M * C;
    A* mu = mean + n * C;
    A* rs = rstd + n * C;
    channel_sums<A>(M, C, 1, buf, total, [&](int64_t r, A* s) {
      const T* row = xn + r * C;
      int64_t c = 0;
      for (; c + K <= C; c += K) (V::loadu(s + c) + vload(row + c)).store(s + c);
      for (; c < C; ++c) s[c] += static_cast<A>(row[c]);
    });
    for (int64_t c = 0; c < C; ++c) mu[c] = total[c] / static_cast<A>(M);
    channel_sums<A>(M, C, 1, buf, total, [&](int64_t r, A* s) {
      const T* row = xn + r * C;
      int64_t c = 0;
      for (; c + K <= C; c += K) {
        const V d = vload(row + c) - V::loadu(mu + c);
        at::vec::fmadd(d, d, V::loadu(s + c)).store(s + c);
      }
      for (; c < C; ++c) s[c] += (static_cast<A>(row[c]) - mu[c]) * (static_cast<A>(row[c]) - mu[c]);
    });
    for (int64_t c = 0; c < C; ++c) {
      rs[c] = A(1) / std::sqrt(total[c] / static_cast<A>(M) + static_cast<A>(eps));
      scale[c] = rs[c] * w[c];
      shift[c] = b[c] - mu[c] * scale[c];
    }
    const V vneg(neg);
    at::parallel_for(0, M, std::max<int64_t>(1, 16384 / C), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* row = xn + r * C;
        T* orow = on + r * C;
        int64_t c = 0;
        for (; c + K <= C; c += K) {
          V z = at::vec::fmadd(vload(row + c), V::loadu(scale.data() + c), V::loadu(shift.data() + c));
          vstore(orow + c, act ? activate_v(z, vneg) : z);
        }
        for (; c < C; ++c) {
          A z = static_cast<A>(row[c]) * scale[c] + shift[c];
          if (act && !(z > A(0))) z *= neg;
          orow[c] = static_cast<T>(z);
        }
      }
    });
  }
}

// dz = dy * act'(z), with act'(z) read from the output's sign (y > 0 exactly when z > 0).
template <class T>
inline AV<T> dz_v(const T* g, const T* y, int64_t i, const AV<T>& vneg, bool act) {
  const AV<T> dy = vload(g + i);
  return act ? dy * AV<T>::blendv(vneg, AV<T>(1), vload(y + i) > AV<T>(0)) : dy;
}
template <class T>
inline Acc<T> dz_s(const T* g, const T* y, int64_t i, Acc<T> neg, bool act) {
  const Acc<T> dy = static_cast<Acc<T>>(g[i]);
  return act && !(static_cast<Acc<T>>(y[i]) > 0) ? dy * neg : dy;
}

template <class T>
void backward_nchw(const Layout& L, const T* g, const T* y, const T* x, const Acc<T>* mean, const Acc<T>* rstd, const Acc<T>* w, T* dx,
                   Acc<T>* dw_n, Acc<T>* db_n, Acc<T> neg, bool act) {
  using A = Acc<T>;
  using V = AV<T>;
  const int64_t M = L.m, K = V::size();
  at::parallel_for(0, L.n * L.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T *gp = g + p * M, *yp = y ? y + p * M : nullptr, *xp = x + p * M;
      T* dp = dx + p * M;
      const A mu = mean[p], rs = rstd[p];
      const V vmu(mu), vrs(rs), vneg(neg);
      V a1(0), a2(0);
      int64_t i = 0;
      for (; i + K <= M; i += K) {
        const V dz = dz_v(gp, yp, i, vneg, act), xh = (vload(xp + i) - vmu) * vrs;
        a1 += dz;
        a2 = at::vec::fmadd(dz, xh, a2);
      }
      A sdz = hsum(a1), sdzx = hsum(a2);
      for (; i < M; ++i) {
        const A dz = dz_s(gp, yp, i, neg, act), xh = (static_cast<A>(xp[i]) - mu) * rs;
        sdz += dz;
        sdzx += dz * xh;
      }
      dw_n[p] = sdzx;
      db_n[p] = sdz;
      const A k1 = rs * w[p % L.c], k2 = sdz / static_cast<A>(M), k3 = sdzx / static_cast<A>(M);
      const V vk1(k1), vk2(k2), vk3(k3);
      for (i = 0; i + K <= M; i += K) {
        const V dz = dz_v(gp, yp, i, vneg, act), xh = (vload(xp + i) - vmu) * vrs;
        vstore(dp + i, vk1 * (dz - vk2 - xh * vk3));
      }
      for (; i < M; ++i) {
        const A dz = dz_s(gp, yp, i, neg, act), xh = (static_cast<A>(xp[i]) - mu) * rs;
        dp[i] = static_cast<T>(k1 * (dz - k2 - xh * k3));
      }
    }
  });
}

template <class T>
void backward_cl(const Layout& L, const T* g, const T* y, const T* x, const Acc<T>* mean, const Acc<T>* rstd, const Acc<T>* w, T* dx,
                 Acc<T>* dw_n, Acc<T>* db_n, Acc<T> neg, bool act) {
  using A = Acc<T>;
  using V = AV<T>;
  const int64_t C = L.c, M = L.m, K = V::size();
  std::vector<A> buf(static_cast<size_t>(at::get_num_threads()) * 2 * C), total, k1(C), k2(C), k3(C);
  const V vneg(neg);
  for (int64_t n = 0; n < L.n; ++n) {
    const size_t off = static_cast<size_t>(n * M * C);
    const T *gn = g + off, *yn = y ? y + off : nullptr, *xn = x + off;
    T* dn = dx + off;
    const A* mu = mean + n * C;
    const A* rs = rstd + n * C;
    // Two sums per channel: dz (first C of the buffer) and dz * xhat (second C).
    channel_sums<A>(M, C, 2, buf, total, [&](int64_t r, A* s) {
      const int64_t base = r * C;
      int64_t c = 0;
      for (; c + K <= C; c += K) {
        const V dz = dz_v(gn + base, yn ? yn + base : nullptr, c, vneg, act);
        const V xh = (vload(xn + base + c) - V::loadu(mu + c)) * V::loadu(rs + c);
        (V::loadu(s + c) + dz).store(s + c);
        at::vec::fmadd(dz, xh, V::loadu(s + C + c)).store(s + C + c);
      }
      for (; c < C; ++c) {
        const A dz = dz_s(gn + base, yn ? yn + base : nullptr, c, neg, act), xh = (static_cast<A>(xn[base + c]) - mu[c]) * rs[c];
        s[c] += dz;
        s[C + c] += dz * xh;
      }
    });
    for (int64_t c = 0; c < C; ++c) {
      db_n[n * C + c] = total[c];
      dw_n[n * C + c] = total[C + c];
      k1[c] = rs[c] * w[c];
      k2[c] = total[c] / static_cast<A>(M);
      k3[c] = total[C + c] / static_cast<A>(M);
    }
    at::parallel_for(0, M, std::max<int64_t>(1, 16384 / C), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = r * C;
        int64_t c = 0;
        for (; c + K <= C; c += K) {
          const V dz = dz_v(gn + base, yn ? yn + base : nullptr, c, vneg, act);
          const V xh = (vload(xn + base + c) - V::loadu(mu + c)) * V::loadu(rs + c);
          vstore(dn + base + c, V::loadu(k1.data() + c) * (dz - V::loadu(k2.data() + c) - xh * V::loadu(k3.data() + c)));
        }
        for (; c < C; ++c) {
          const A dz = dz_s(gn + base, yn ? yn + base : nullptr, c, neg, act), xh = (static_cast<A>(xn[base + c]) - mu[c]) * rs[c];
          dn[base + c] = static_cast<T>(k1[c] * (dz - k2[c] - xh * k3[c]));
        }
      }
    });
  }
}

}  // namespace

void instance_norm_forward(at::ScalarType dtype, const Layout& layout, const void* x, const void* w, const void* b, void* out, void* mean,
                           void* rstd, double eps, double negative_factor, bool activate) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "tessera::instance_norm_act", [&] {
    using A = Acc<scalar_t>;
    auto* f = layout.channels_last ? &forward_cl<scalar_t> : &forward_nchw<scalar_t>;
    f(layout, static_cast<const scalar_t*>(x), static_cast<const A*>(w), static_cast<const A*>(b), static_cast<scalar_t*>(out),
      static_cast<A*>(mean), static_cast<A*>(rstd), eps, static_cast<A>(negative_factor), activate);
  });
}

void instance_norm_backward(at::ScalarType dtype, const Layout& layout, const void* grad_out, const void* out, const void* x, const void* mean,
                            const void* rstd, const void* w, void* dx, void* dw_per_n, void* db_per_n, double negative_factor, bool activate) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "tessera::instance_norm_act_backward", [&] {
    using A = Acc<scalar_t>;
    auto* f = layout.channels_last ? &backward_cl<scalar_t> : &backward_nchw<scalar_t>;
    f(layout, static_cast<const scalar_t*>(grad_out), static_cast<const scalar_t*>(out), static_cast<const scalar_t*>(x),
      static_cast<const A*>(mean), static_cast<const A*>(rstd), static_cast<const A*>(w), static_cast<scalar_t*>(dx),
      static_cast<A*>(dw_per_n), static_cast<A*>(db_per_n), static_cast<A>(negative_factor), activate);
  });
}

}  // namespace tessera::ops::cpu::CPU_CAPABILITY
