// Groupwise learnable correlation (Wang et al.) as TensorFlow CPU ops.
//
//   out[b,t,i,j,(ky*K+kx)*G+gi] = 1/g * sum_{c in gi} w[t,ky,kx,c] * prev[b,t,i,j,c]
//                                   * x[b,t,i+D*(ky-K/2),j+D*(kx-K/2),c]
//   prev[t] = x[t-1], prev[0] = x[0]; zero outside the frame.
//
// Layout is channels-last and contiguous: x (B,L,H,W,C), w (L,K,K,C),
// out (B,L,H,W,K*K*G). Every kernel computes all K*K displacements of one
// output row while the 2*K input rows it touches are in cache; the work is
// split over frames with TensorFlow's CPU thread pool, and each output element
// is written by exactly one work item (no atomics). float32 only.
//
// The forward has two implementations: a displacement-vectorised one (see
// DispGeo; with AVX-512 when G is 2, 4 or 8 and K*G fills at least 3/4 of
// its 16-lane chunks, e.g. K=7 with g = 32, CorrNet's setting, at 64, 128
// and 256 channels) and a pixel-vectorised one (Planes) for every other
// shape. The gradients (with AVX-512) are vectorised over channels when g is
// a multiple of 16 (ChanGradInput / ChanGradKernel: d/dx and d/dkernel are
// indexed by channel, so no lane reduction is needed), else over
// displacements like the forward where DispGeo applies (DispGradInput /
// DispGradKernel), else they use the pixel-vectorised layout.
#include <algorithm>
#include <atomic>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

namespace {

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Status;
using tensorflow::Tensor;
using tensorflow::TensorShape;
using tensorflow::errors::InvalidArgument;
namespace shape_inference = tensorflow::shape_inference;

struct Geometry {
  int64_t B, L, H, W, C, K, D, g, G, KK, R;
};

Status CorrelationShape(shape_inference::InferenceContext* c) {
  shape_inference::ShapeHandle x, w;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), 5, &x));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), 4, &w));
  int k, g;
  TF_RETURN_IF_ERROR(c->GetAttr("kernel_size", &k));
  TF_RETURN_IF_ERROR(c->GetAttr("group_size", &g));
  shape_inference::DimensionHandle channels = c->Dim(x, 4);
  shape_inference::DimensionHandle out_c = c->UnknownDim();
  if (c->ValueKnown(channels)) out_c = c->MakeDim(c->Value(channels) / g * k * k);
  c->set_output(0, c->MakeShape({c->Dim(x, 0), c->Dim(x, 1), c->Dim(x, 2),
                                 c->Dim(x, 3), out_c}));
  return Status();
}

}  // namespace

REGISTER_OP("ActionzooCorrelation")
    .Input("x: float")
    .Input("kernel: float")
    .Output("out: float")
    .Attr("kernel_size: int")
    .Attr("dilation: int")
    .Attr("group_size: int")
    .SetShapeFn(CorrelationShape);

REGISTER_OP("ActionzooCorrelationGradInput")
    .Input("x: float")
    .Input("kernel: float")
    .Input("grad_out: float")
    .Output("grad_x: float")
    .Attr("kernel_size: int")
    .Attr("dilation: int")
    .Attr("group_size: int")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return Status();
    });

REGISTER_OP("ActionzooCorrelationGradKernel")
    .Input("x: float")
    .Input("kernel: float")
    .Input("grad_out: float")
    .Output("grad_kernel: float")
    .Attr("kernel_size: int")
    .Attr("dilation: int")
    .Attr("group_size: int")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(1));
      return Status();
    });

namespace {

class CorrelationBase : public OpKernel {
 public:
  explicit CorrelationBase(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("kernel_size", &k_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("dilation", &d_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("group_size", &g_));
    OP_REQUIRES(ctx, k_ >= 1 && k_ % 2 == 1, InvalidArgument("kernel_size must be odd"));
    OP_REQUIRES(ctx, d_ >= 1 && g_ >= 1, InvalidArgument("bad dilation/group_size"));
  }

 protected:
  // Validates x (B,L,H,W,C) and kernel (L,K,K,C); fills geometry.
  // Callers test ctx->status() afterwards.
  void Check(OpKernelContext* ctx, const Tensor& x, const Tensor& w, Geometry* s) {
    OP_REQUIRES(ctx, x.dims() == 5, InvalidArgument("x must be 5-D (B,L,H,W,C)"));
    s->B = x.dim_size(0); s->L = x.dim_size(1); s->H = x.dim_size(2);
    s->W = x.dim_size(3); s->C = x.dim_size(4);
    s->K = k_; s->D = d_; s->g = g_; s->G = s->C / g_; s->KK = k_ * k_;
    s->R = k_ / 2;
    OP_REQUIRES(ctx, s->C % g_ == 0, InvalidArgument("channels not divisible by group_size"));
    OP_REQUIRES(ctx, w.dims() == 4 && w.dim_size(0) == s->L && w.dim_size(1) == k_ &&
                         w.dim_size(2) == k_ && w.dim_size(3) == s->C,
                InvalidArgument("kernel must have shape (L, K, K, C)"));
  }

  // Splits [0, n) into about two contiguous blocks per thread (few blocks:
  // each block re-converts the frame before its first item; two per thread
  // leave some room for load balancing when a core is busy elsewhere).
  void Parallel(OpKernelContext* ctx, int64_t n, int64_t cost,
                const std::function<void(int64_t, int64_t)>& fn) {
    auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    const int64_t threads = std::max(1, pool->NumThreads());
    if (n <= 1 || threads == 1 || cost * n < 100000) return fn(0, n);
    const int64_t blocks = std::min(n, 2 * threads);
    pool->TransformRangeConcurrently((n + blocks - 1) / blocks, n, fn);
  }

  int k_, d_, g_;
};

// ---------------------------------------------------------------------------
// Vectorised kernels. Frames of x (and of grad_out) are first transposed,
// row by row, to (C, Wq) "planes" with R*D zero columns on both sides, so
// the K horizontal displacements of a row are plain shifted, unaligned
// vector loads over 16 consecutive pixels and every multiply-add is a
// full-width vector FMA (no horizontal sums, no boundary branches). Pixels
// are padded to Wp, a multiple of 16; the padding is zero and contributes
// nothing. Kernels are instantiated for common (K, D) so that offsets are
// immediates and the K accumulators stay in registers.
typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
constexpr int64_t V = 16;

inline v16 Load(const float* p) { return *reinterpret_cast<const v16u*>(p); }
inline void Store(float* p, v16 v) { *reinterpret_cast<v16u*>(p) = v; }

#ifdef __AVX512F__
// Transposes 16 row registers in place.
inline void Transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
  }
}
#endif

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols
// (rows, cols <= 16).
inline void TransposeBlock(const float* src, int64_t src_stride, int64_t rows, int64_t cols,
                           float* dst, int64_t dst_stride) {
#ifdef __AVX512F__
  const __mmask16 col_mask = static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1);
  __m512 r[16];
  if (rows == V && cols == V) {
    for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  } else {
    for (int64_t i = 0; i < V; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, src + i * src_stride)
                      : _mm512_setzero_ps();
  }
  Transpose16(r);
  if (rows == V && cols == V) {
    for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * dst_stride, r[i]);
  } else {
    for (int64_t c = 0; c < cols; ++c)
      _mm512_mask_storeu_ps(dst + c * dst_stride, row_mask, r[c]);
  }
#else
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t i = 0; i < rows; ++i) dst[c * dst_stride + i] = src[i * src_stride + c];
#endif
}

// (rows x cols) row-major -> (cols x rows) with the given strides, by tiles.
inline void Transpose(const float* src, int64_t src_stride, int64_t rows, int64_t cols,
                      float* dst, int64_t dst_stride) {
  for (int64_t r0 = 0; r0 < rows; r0 += V)
    for (int64_t c0 = 0; c0 < cols; c0 += V)
      TransposeBlock(src + r0 * src_stride + c0, src_stride, std::min(V, rows - r0),
                     std::min(V, cols - c0), dst + c0 * dst_stride + r0, dst_stride);
}

// Per-thread, 64-byte aligned scratch buffer. Buffers up to kKeepBytes are
// kept by the thread across calls (the TensorFlow pool threads live as long
// as the process), so the kernel does not fault fresh pages in on every
// call; bigger ones are freed when the work item ends.
class Scratch {
 public:
  static constexpr int64_t kKeepBytes = int64_t{32} << 20;
  Scratch(int slot, int64_t floats) {
    const int64_t bytes = (std::max<int64_t>(floats, 1) * 4 + 63) / 64 * 64;
    if (bytes > kKeepBytes) {
      own_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      data_ = own_;
      return;
    }
    Kept& k = kept()[slot];
    if (k.bytes < bytes) {
      std::free(k.ptr);
      k.ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
      k.bytes = k.ptr ? bytes : 0;
    }
    data_ = k.ptr;
  }
  ~Scratch() { std::free(own_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* data() const { return data_; }
  bool ok() const { return data_ != nullptr; }

 private:
  struct Kept {
    float* ptr = nullptr;
    int64_t bytes = 0;
    ~Kept() { std::free(ptr); }
  };
  static Kept* kept() {
    thread_local Kept slots[6];
    return slots;
  }
  float* own_ = nullptr;
  float* data_ = nullptr;
};

// Copies n floats to dst; with AVX-512, the whole 64-byte lines of dst with
// non-temporal stores (the output is not read again by the op), the partial
// lines at either end with plain stores.
inline void StreamCopy(const float* src, int64_t n, float* dst) {
#ifdef __AVX512F__
  int64_t i = 0;
  for (; i < n && reinterpret_cast<uintptr_t>(dst + i) % 64 != 0; ++i) dst[i] = src[i];
  for (; i + V <= n; i += V) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  for (; i < n; ++i) dst[i] = src[i];
#else
  std::memcpy(dst, src, sizeof(float) * n);
#endif
}

// Streams a row that is being built in a scratch buffer to the output a
// few lines at a time, between pieces of compute, so that the non-temporal
// stores drain while the core computes (about 2% faster at the benchmark
// shape than one burst per row).
class RowStream {
 public:
  RowStream(const float* src, float* dst, int64_t n) : src_(src), dst_(dst), n_(n) {}
  // Floats 0 .. n-1 of the row are final (rounded down to a 64-byte line of
  // dst unless n is the whole row).
  void Ready(int64_t n) {
    if (n < n_) n -= (reinterpret_cast<uintptr_t>(dst_ + n) / sizeof(float)) % V;
    ready_ = std::max(ready_, n);
  }
  // Sends up to `vectors` * 16 floats of what is final.
  void Step(int64_t vectors) {
    const int64_t n = std::min(ready_, sent_ + vectors * V);
    if (n <= sent_) return;
    StreamCopy(src_ + sent_, n - sent_, dst_ + sent_);
    sent_ = n;
  }
  void Finish() {
    ready_ = n_;
    Step(n_);
  }

 private:
  const float* src_;
  float* dst_;
  int64_t n_, ready_ = 0, sent_ = 0;
};

// Orders the non-temporal stores before the work item's end.
inline void StreamFence() {
#ifdef __AVX512F__
  _mm_sfence();
#endif
}

// Plane rows start on 64-byte boundaries and the left padding is a multiple
// of 16, so loads at the unshifted position are aligned.
struct Planes {
  int64_t Wp, pad, Wq;  // padded width, left padding (>= R*D), plane row stride
  explicit Planes(const Geometry& s) {
    Wp = (s.W + V - 1) / V * V;
    pad = (s.R * s.D + V - 1) / V * V;
    Wq = Wp + 2 * pad;
  }
};

// (W, n) channels-last row -> (n, Wq) plane, data at column offset `pad`,
// zeros elsewhere.
// The zeros are written as aligned vectors (pad and Wq are multiples of 16,
// d is 64-byte aligned) before the data, which overwrites the overlap.
inline void RowToPlane(const float* src, int64_t W, int64_t n, const Planes& pl, float* d) {
  const int64_t right = pl.pad + W / V * V;
  for (int64_t c = 0; c < n; ++c) {
    float* dc = d + c * pl.Wq;
    for (int64_t j = 0; j < pl.pad; j += V) Store(dc + j, v16{});
    for (int64_t j = right; j < pl.Wq; j += V) Store(dc + j, v16{});
  }
  Transpose(src, n, W, n, d + pl.pad, pl.Wq);
}

// Rows of one frame in plane layout, in a ring of `slots` rows: Row(i)
// converts row i on first use, evicting row i - slots. Small enough to stay
// in L2 (a whole converted frame is larger than L2 at the benchmark size).
class RowRing {
 public:
  RowRing(int64_t slots, int64_t row_floats, int scratch_slot)
      : storage_(scratch_slot, slots * row_floats), slots_(slots), row_(row_floats),
        key_(slots, -1) {}
  bool ok() const { return storage_.ok(); }
  void Reset() { std::fill(key_.begin(), key_.end(), -1); }
  const float* Row(const float* frame, int64_t i, int64_t W, int64_t n, const Planes& pl) {
    const int64_t slot = i % slots_;
    float* d = storage_.data() + slot * row_;
    if (key_[slot] != i) {
      RowToPlane(frame + i * W * n, W, n, pl, d);
      key_[slot] = i;
    }
    return d;
  }

 private:
  Scratch storage_;
  int64_t slots_, row_;
  std::vector<int64_t> key_;
};

// Per-thread scratch frames in plane layout, converted on demand and cached
// by frame index (LRU), so consecutive work items reuse shared frames.
class FrameCache {
 public:
  // `scratch_slot`: which per-thread Scratch buffer holds the frames.
  FrameCache(int slots, int64_t frame_floats, int scratch_slot)
      : storage_(scratch_slot, slots * frame_floats), buf_(storage_.data()),
        key_(slots, -1), stamp_(slots, 0), frame_(frame_floats) {}
  // Whole frame `key` in plane layout (all H rows converted).
  bool ok() const { return buf_ != nullptr; }
  const float* Get(int64_t key, const float* src, int64_t H, int64_t W, int64_t n,
                   const Planes& pl) {
    const int slot = Slot(key, H);
    for (int64_t i = 0; i < H; ++i) Row(slot, src, i, W, n, pl);
    return &buf_[slot * frame_];
  }

  // Lazily converted frame: rows are transposed on first use by Row(), so
  // they are still in cache when the kernel reads them.
  int Slot(int64_t key, int64_t H) {
    ++clock_;
    int victim = 0;
    for (int k = 0; k < static_cast<int>(key_.size()); ++k) {
      if (key_[k] == key) { stamp_[k] = clock_; return k; }
      if (stamp_[k] < stamp_[victim]) victim = k;
    }
    key_[victim] = key;
    stamp_[victim] = clock_;
    ready_[victim].assign(H, 0);
    return victim;
  }

  const float* Row(int slot, const float* src, int64_t i, int64_t W, int64_t n,
                   const Planes& pl) {
    float* d = &buf_[slot * frame_] + i * n * pl.Wq;
    if (!ready_[slot][i]) {
      RowToPlane(src + i * W * n, W, n, pl, d);
      ready_[slot][i] = 1;
    }
    return d;
  }

 private:
  Scratch storage_;
  float* buf_;
  std::vector<int64_t> key_, stamp_;
  std::vector<std::vector<char>> ready_ = std::vector<std::vector<char>>(key_.size());
  int64_t frame_, clock_ = 0;
};

// wT[ky][c][kx] = scale * w[t][ky][kx][c] for one frame index t.
inline void RelayoutWeights(const Geometry& s, const float* w_t, float scale, float* wT) {
  for (int64_t ky = 0; ky < s.K; ++ky)
    for (int64_t kx = 0; kx < s.K; ++kx)
      for (int64_t c = 0; c < s.C; ++c)
        wT[(ky * s.C + c) * s.K + kx] = scale * w_t[(ky * s.K + kx) * s.C + c];
}

template <int N>
struct Const { static constexpr int value = N; };

// Calls f(Const<K>, Const<D>) for common sizes, f(Const<0>, Const<0>)
// (read at run time) otherwise.
template <typename F>
inline void DispatchKD(int64_t k, int64_t d, F&& f) {
#define AZ_CASE(KK, DD) if (k == KK && d == DD) return f(Const<KK>(), Const<DD>());
  AZ_CASE(3, 1) AZ_CASE(3, 2) AZ_CASE(5, 1) AZ_CASE(5, 2) AZ_CASE(7, 1) AZ_CASE(7, 2)
#undef AZ_CASE
  f(Const<0>(), Const<0>());
}

#define AZ_KD(KT, DT) const int64_t K = KT ? KT : s.K, D = DT ? DT : s.D, R = K / 2

// Forward, one (ky, group) of one row: out[(kx*G) * Wp + j] for all kx and
// the JB*16 pixels from jv. wT points at wT[ky][0][0] (scaled by 1/g).
template <int KT, int DT, int JB>
inline void ForwardBlock(const Geometry& s, const Planes& pl, const float* P, const float* Q,
                         const float* wT, int64_t gi, int64_t jv, float* acc_rows) {
  AZ_KD(KT, DT);
  v16 acc[KT ? KT : 15][JB] = {};
  for (int64_t c = gi * s.g; c < (gi + 1) * s.g; ++c) {
    v16 p[JB];
    for (int b = 0; b < JB; ++b) p[b] = Load(P + c * pl.Wq + jv + b * V);
    const float* q = Q + c * pl.Wq + jv - R * D;
    const float* wk = wT + c * K;
    for (int64_t kx = 0; kx < K; ++kx) {
      const float wv = wk[kx];
      for (int b = 0; b < JB; ++b) acc[kx][b] += (p[b] * wv) * Load(q + kx * D + b * V);
    }
  }
  for (int64_t kx = 0; kx < K; ++kx)
    for (int b = 0; b < JB; ++b) Store(acc_rows + kx * s.G * pl.Wp + jv + b * V, acc[kx][b]);
}

template <int KT, int DT>
inline void ForwardSpan(const Geometry& s, const Planes& pl, const float* P, const float* Q,
                        const float* wT, int64_t gi, float* acc_rows) {
  int64_t jv = 0;
  for (; jv + 2 * V <= pl.Wp; jv += 2 * V)
    ForwardBlock<KT, DT, 2>(s, pl, P, Q, wT, gi, jv, acc_rows);
  for (; jv < pl.Wp; jv += V) ForwardBlock<KT, DT, 1>(s, pl, P, Q, wT, gi, jv, acc_rows);
}

// Grad kernel, one (ky, c) of one row: acc[kx] += sum_j p * go[kx] * q(j + dx).
template <int KT, int DT>
inline void KernelGradSpan(const Geometry& s, const Planes& pl, const float* P, const float* Q,
                           const float* Gr, v16* acc_io) {
  AZ_KD(KT, DT);
  v16 acc[KT ? KT : 15];
  for (int64_t kx = 0; kx < K; ++kx) acc[kx] = acc_io[kx];
  for (int64_t jv = 0; jv < pl.Wp; jv += V) {
    const v16 p = Load(P + jv);
    for (int64_t kx = 0; kx < K; ++kx)
      acc[kx] += p * Load(Gr + kx * s.G * pl.Wq + jv) * Load(Q + jv + D * (kx - R));
  }
  for (int64_t kx = 0; kx < K; ++kx) acc_io[kx] = acc[kx];
}

// Grad input term (1), one ky: d[c][j] += wT[c][kx] * P[c][j-dx] * G[kx,g][j-dx].
template <int KT, int DT>
inline void InputGradCurrent(const Geometry& s, const Planes& pl, const float* P,
                             const float* G0, const float* wT, float* dplane) {
  AZ_KD(KT, DT);
  for (int64_t c = 0; c < s.C; ++c) {
    const float* Gc = G0 + (c / s.g) * pl.Wq;
    const float* Pc = P + c * pl.Wq;
    const float* wk = wT + c * K;
    for (int64_t jv = 0; jv < pl.Wp; jv += V) {
      v16 acc = Load(dplane + c * pl.Wp + jv);
      for (int64_t kx = 0; kx < K; ++kx) {
        const int64_t sh = jv - D * (kx - R);
        acc += (Load(Pc + sh) * wk[kx]) * Load(Gc + kx * s.G * pl.Wq + sh);
      }
      Store(dplane + c * pl.Wp + jv, acc);
    }
  }
}

// Grad input term (2), one ky: d[c][j] += wT[c][kx] * G[kx,g][j] * Q[c][j+dx].
template <int KT, int DT>
inline void InputGradPrevious(const Geometry& s, const Planes& pl, const float* Q,
                              const float* G0, const float* wT, float* dplane) {
  AZ_KD(KT, DT);
  for (int64_t c = 0; c < s.C; ++c) {
    const float* Gc = G0 + (c / s.g) * pl.Wq;
    const float* Qc = Q + c * pl.Wq;
    const float* wk = wT + c * K;
    for (int64_t jv = 0; jv < pl.Wp; jv += V) {
      v16 acc = Load(dplane + c * pl.Wp + jv);
      for (int64_t kx = 0; kx < K; ++kx)
        acc += (Load(Gc + kx * s.G * pl.Wq + jv) * wk[kx]) * Load(Qc + jv + D * (kx - R));
      Store(dplane + c * pl.Wp + jv, acc);
    }
  }
}

// ---------------------------------------------------------------------------
// Forward fast path: vectorised over the displacements of one row of the
// kernel. For fixed ky, the K*G output channels (ky*K + kx)*G + gi of one
// pixel are contiguous in the output, and with the input row stored with
// the G channels that share c' = c mod g adjacent and pixels split by phase
// (j = D*n + ph),
//
//   Q[(c'*D + ph)*S + (R + n)*G + gi] = x[row][D*n + ph][gi*g + c']
//
// (zero outside the frame), they are also one contiguous window of the
// input: output pixel j reads x[row][j + D*(kx - R)][gi*g + c'] for all
// (kx, gi) from the K*G floats at Q[(c'*D + ph)*S + n*G], taken in chunks
// of 16 lanes (one for G = 2, up to two for G = 4, up to four for G = 8).
// The prev factor is the same for every kx (a broadcast of G floats) and
// the kernel is one vector per (ky, c', chunk). The accumulators hold output channels directly, so
// rows are written without a transpose; the input needs one conversion per
// row and frame (the current frame's rows sit in a ring while the K row
// displacements use them). Windows of J consecutive pixels (8, 4 or 2 for
// 1, 2 or more chunks) are cut from aligned loads with lane shifts. Output rows i and i + D are computed
// together: input row i + D*(m - R) is kernel row m of the first and m - 1
// of the second, so each window serves two multiply-adds. Used when G is 2,
// 4 or 8 and K*G fills at least 3/4 of its chunks (see Usable).
#ifdef __AVX512F__
struct DispGeo {
  int64_t KG, NC, VW, J, Wn, nmain, S, row, opix;
  explicit DispGeo(const Geometry& s) {
    KG = s.K * s.G;
    NC = Chunks(s);
    VW = NC * V;
    J = PixelsPerBlock(NC);
    Wn = (s.W + s.D - 1) / s.D;
    nmain = Wn / J;
    // Plane row: positions -R .. Wn + R - 1 (written in whole vectors of
    // 16 / G positions) and what the aligned window loads read.
    const int64_t pv = V / s.G;
    S = (Wn + 2 * s.R + pv - 1) / pv * V;
    for (int64_t ph = 0; ph < s.D; ++ph) {
      const int64_t wn = (s.W - ph + s.D - 1) / s.D, tail = wn % J;
      if (wn >= J) S = std::max(S, (wn / J * J - J) * s.G + NA(s.G, J, NC) * V);
      if (tail) S = std::max(S, (wn / J * J) * s.G + NA(s.G, tail, NC) * V);
    }
    row = s.g * s.D * S;
    opix = s.W;
  }
  // Aligned vectors that hold the windows of J pixels.
  static constexpr int64_t NA(int64_t G, int64_t J, int64_t NC) {
    return ((J - 1) * G + (NC - 1) * V + V - 1) / V + 1;
  }
  // 16-lane chunks per pixel and kernel row (K*G lanes).
  static int64_t Chunks(const Geometry& s) { return (s.K * s.G + V - 1) / V; }
  // Pixels per register block: J * NC accumulators per output row.
  static constexpr int64_t PixelsPerBlock(int64_t NC) { return NC == 1 ? 8 : NC == 2 ? 4 : 2; }
  // G = 2, 4 or 8, the K*G lanes fill at least 3/4 of their chunks, and
  // J*G is a multiple of 16 (blocks start on aligned vectors): one chunk for
  // G = 2, up to two for G = 4, up to four for G = 8.
  static bool Usable(const Geometry& s) {
    const int64_t nc = Chunks(s);
    return (s.G == 2 || s.G == 4 || s.G == 8) && nc <= s.G / 2 &&
           4 * s.K * s.G >= 3 * nc * V;
  }
};

// One input row (W, C) -> Q[(c'*D + ph)*S + (R + n)*G + gi], zero padded.
inline void RowToDisp(const Geometry& s, const DispGeo& f, const float* src, float* Q) {
  for (int64_t ph = 0; ph < s.D; ++ph) {
    const int64_t wn = (s.W - ph + s.D - 1) / s.D;
    int64_t c0 = 0;
    if (s.G == 2) {
      // 8 positions x 8 channel pairs at a time, positions -R .. wn + R - 1
      // (zeros outside the frame) in aligned vectors: pairs (x[c], x[g + c])
      // are gathered and transposed as 64-bit elements.
      const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 2, 10, 18, 26,
                                           4, 12, 20, 28, 6, 14, 22, 30);
      const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(1));
      for (; c0 + 8 <= s.g; c0 += 8) {
        for (int64_t n0 = -s.R; n0 < wn + s.R; n0 += 8) {
          __m512 z[8];
          for (int k = 0; k < 8; ++k) {
            if (n0 + k >= 0 && n0 + k < wn) {
              const float* p = src + (s.D * (n0 + k) + ph) * s.C + c0;
              z[k] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)),
                                        _mm256_loadu_ps(p + s.g), 1);
            } else {
              z[k] = _mm512_setzero_ps();
            }
          }
          // z[k] = [x_k[c0..c0+7], x_k[g+c0..g+c0+7]]. t[2m] = pairs 0,2,4,6 of
          // pixels 2m and 2m+1 interleaved; t[2m+1] = pairs 1,3,5,7.
          __m512d t[8], u[8];
          for (int m = 0; m < 4; ++m) {
            t[2 * m] = _mm512_castps_pd(_mm512_permutex2var_ps(z[2 * m], lo, z[2 * m + 1]));
            t[2 * m + 1] = _mm512_castps_pd(_mm512_permutex2var_ps(z[2 * m], hi, z[2 * m + 1]));
          }
          for (int h = 0; h < 2; ++h) {
            const int a = 4 * h;
            u[a] = _mm512_shuffle_f64x2(t[a], t[a + 2], 0x88);
            u[a + 1] = _mm512_shuffle_f64x2(t[a], t[a + 2], 0xdd);
            u[a + 2] = _mm512_shuffle_f64x2(t[a + 1], t[a + 3], 0x88);
            u[a + 3] = _mm512_shuffle_f64x2(t[a + 1], t[a + 3], 0xdd);
          }
          __m512d o[8];
          o[0] = _mm512_shuffle_f64x2(u[0], u[4], 0x88);
          o[4] = _mm512_shuffle_f64x2(u[0], u[4], 0xdd);
          o[2] = _mm512_shuffle_f64x2(u[1], u[5], 0x88);
          o[6] = _mm512_shuffle_f64x2(u[1], u[5], 0xdd);
          o[1] = _mm512_shuffle_f64x2(u[2], u[6], 0x88);
          o[5] = _mm512_shuffle_f64x2(u[2], u[6], 0xdd);
          o[3] = _mm512_shuffle_f64x2(u[3], u[7], 0x88);
          o[7] = _mm512_shuffle_f64x2(u[3], u[7], 0xdd);
          for (int c = 0; c < 8; ++c)
            _mm512_store_pd(Q + ((c0 + c) * s.D + ph) * f.S + (s.R + n0) * 2, o[c]);
        }
      }
    }
    for (int64_t c = c0; c < s.g; ++c) {
      float* q = Q + (c * s.D + ph) * f.S;
      std::fill(q, q + f.S, 0.f);
      q += s.R * s.G;
      for (int64_t n = 0; n < wn; ++n)
        for (int64_t gi = 0; gi < s.G; ++gi)
          q[n * s.G + gi] = src[(s.D * n + ph) * s.C + gi * s.g + c];
    }
  }
}

// Wd[(ky*g + c')*VW + e] = w[t][ky][kx][gi*g + c'] / g for e = kx*G + gi
// < K*G, zero in the spare lanes (VW = 16 * chunks).
inline void DispWeights(const Geometry& s, const DispGeo& f, const float* w_t, float* Wd) {
  const float scale = 1.0f / s.g;
  std::fill(Wd, Wd + s.K * s.g * f.VW, 0.f);
  for (int64_t ky = 0; ky < s.K; ++ky)
    for (int64_t kx = 0; kx < s.K; ++kx)
      for (int64_t gi = 0; gi < s.G; ++gi) {
        const float* src = w_t + (ky * s.K + kx) * s.C + gi * s.g;
        float* dst = Wd + ky * s.g * f.VW + kx * s.G + gi;
        for (int64_t c = 0; c < s.g; ++c) dst[c * f.VW] = scale * src[c];
      }
}

template <int G>
inline v16 BroadcastGroup(const float* p) {
  if (G == 1) return (v16)_mm512_set1_ps(*p);
  if (G == 2) {
    double d;
    std::memcpy(&d, p, sizeof(d));
    return (v16)_mm512_castpd_ps(_mm512_set1_pd(d));
  }
  if (G == 4) return (v16)_mm512_broadcast_f32x4(_mm_loadu_ps(p));
  return (v16)_mm512_broadcast_f32x8(_mm256_loadu_ps(p));
}

// Calls f(std::integral_constant<int, 0>) .. f(std::integral_constant<int, N-1>).
template <typename F, int... I>
inline void UnrollImpl(F&& f, std::integer_sequence<int, I...>) {
  (f(std::integral_constant<int, I>()), ...);
}
template <int N, typename F>
inline void Unroll(F&& f) {
  UnrollImpl(f, std::make_integer_sequence<int, N>());
}

// Calls fn(Const<G>, Const<NC>) for the (G, NC) pairs that DispGeo::Usable
// admits (the displacement-vectorised kernels are built for those).
template <typename F>
inline void DispatchDisp(const Geometry& s, const DispGeo& f, F&& fn) {
#define AZ_DISP(GG, NN)                                                             \
  if (s.G == GG && f.NC == NN)                                                      \
    return fn(Const<GG>(), Const<NN>());
  AZ_DISP(2, 1) AZ_DISP(4, 1) AZ_DISP(4, 2) AZ_DISP(8, 2) AZ_DISP(8, 3) AZ_DISP(8, 4)
#undef AZ_DISP
}

struct NoOp {
  void operator()(int64_t) const {}
};

// Walks the pixel blocks of an output row: for n = 0, J, 2J, ... (J =
// PixelsPerBlock(NC)) and each dilation phase ph, calls block(ph, n, JJ) for
// the JJ = min(J, pixels left in the phase) pixels D*n' + ph, n' = n ..
// n + JJ - 1 (n*G is a multiple of 16); JJ is a compile-time constant
// (Const-like, a template width). Then calls done(p): output pixels 0 .. p-1
// are complete.
template <int NC, typename F, typename Done = NoOp>
inline void ForEachDispBlock(const Geometry& s, F&& block, Done&& done = Done()) {
  constexpr int J = DispGeo::PixelsPerBlock(NC);
  for (int64_t n = 0; s.D * n < s.W; n += J) {
    for (int64_t ph = 0; ph < s.D; ++ph) {
      const int64_t rest = (s.W - ph + s.D - 1) / s.D - n;
      if (rest >= J) {
        block(ph, n, Const<J>());
      } else {
        Unroll<J>([&](auto jj) {
          if constexpr (jj.value > 0)
            if (rest == jj.value) block(ph, n, jj);
        });
      }
    }
    done(std::min(s.W, s.D * (n + J)));
  }
}

// The window of pixel jj (floats jj*G .. jj*G + 15 of the block) from the
// block's aligned vectors A: aligned loads and a lane shift (one shuffle)
// instead of an unaligned load per window. Those straddle cache lines and
// were the bottleneck (about 3 cycles each).
template <int G, int JJ, int CH = 0>
inline v16 Window(const v16* A) {
  constexpr int e = JJ * G + CH * V, k = e / V, sh = e % V;
  if (sh == 0) return A[k];
  return (v16)_mm512_castsi512_ps(_mm512_alignr_epi32(
      _mm512_castps_si512((__m512)A[k + 1]), _mm512_castps_si512((__m512)A[k]), sh));
}

// Stores chunk ch of the K*G lanes of one pixel and kernel row.
template <int NC, int CH>
inline void DispStoreChunk(const DispGeo& f, float* d, v16 acc) {
  if (CH + 1 < NC) return Store(d + CH * V, acc);
  _mm512_mask_storeu_ps(d + CH * V, static_cast<__mmask16>((1u << (f.KG - CH * V)) - 1),
                        (__m512)acc);
}

// J pixels n0 .. n0+J-1 of phase ph of one output row and one kernel row ky
// (its input row Q, weights Wd at ky, prev row P), NC chunks of 16 lanes.
// n0*G is a multiple of 16, so the block's vectors are aligned. Writes
// ob[j*nout + ky*KG + e].
template <int G, int J, int NC>
inline void DispBlock(const Geometry& s, const DispGeo& f, const float* P, const float* Q,
                      const float* Wd, int64_t ph, int64_t n0, float* ob, int64_t ky) {
  constexpr int NA = DispGeo::NA(G, J, NC);  // aligned vectors per c'
  const int64_t cstride = s.D * f.S, off = ph * f.S + n0 * G;
  v16 acc[J][NC] = {};
  for (int64_t c = 0; c < s.g; ++c) {
    const float* p = P + c * cstride + off + s.R * G;
    const float* q = Q + c * cstride + off;
    v16 wv[NC];
    for (int ch = 0; ch < NC; ++ch) wv[ch] = Load(Wd + c * NC * V + ch * V);
    v16 A[NA];
    for (int k = 0; k < NA; ++k) A[k] = *reinterpret_cast<const v16*>(q + k * V);
    Unroll<J>([&](auto jc) {
      constexpr int jj = decltype(jc)::value;
      const v16 pv = BroadcastGroup<G>(p + jj * G);
      Unroll<NC>([&](auto cc) {
        constexpr int ch = decltype(cc)::value;
        acc[jj][ch] += (pv * wv[ch]) * Window<G, jj, ch>(A);
      });
    });
  }
  const int64_t step = s.D * s.G * s.KK;
  float* const o = ob + (s.D * n0 + ph) * (s.G * s.KK) + ky * f.KG;
  Unroll<J>([&](auto jc) {
    constexpr int jj = decltype(jc)::value;
    Unroll<NC>([&](auto cc) {
      constexpr int ch = decltype(cc)::value;
      DispStoreChunk<NC, ch>(f, o + jj * step, acc[jj][ch]);
    });
  });
}

// Output rows a = i and b = i + D, kernel rows m of a and m - 1 of b, which
// read the same input row Q: each window serves two multiply-adds.
template <int G, int J, int NC>
inline void DispBlockPair(const Geometry& s, const DispGeo& f, const float* Pa,
                          const float* Pb, const float* Q, const float* Wa, const float* Wb,
                          int64_t ph, int64_t n0, float* oba, float* obb, int64_t m) {
  constexpr int NA = DispGeo::NA(G, J, NC);
  const int64_t cstride = s.D * f.S, off = ph * f.S + n0 * G;
  v16 acc_a[J][NC] = {}, acc_b[J][NC] = {};
  for (int64_t c = 0; c < s.g; ++c) {
    const float* pa = Pa + c * cstride + off + s.R * G;
    const float* pb = Pb + c * cstride + off + s.R * G;
    const float* q = Q + c * cstride + off;
    v16 wa[NC], wb[NC];
    for (int ch = 0; ch < NC; ++ch) {
      wa[ch] = Load(Wa + c * NC * V + ch * V);
      wb[ch] = Load(Wb + c * NC * V + ch * V);
    }
    v16 A[NA];
    for (int k = 0; k < NA; ++k) A[k] = *reinterpret_cast<const v16*>(q + k * V);
    Unroll<J>([&](auto jc) {
      constexpr int jj = decltype(jc)::value;
      Unroll<NC>([&](auto cc) {
        constexpr int ch = decltype(cc)::value;
        const v16 qv = Window<G, jj, ch>(A);
        acc_a[jj][ch] += (BroadcastGroup<G>(pa + jj * G) * wa[ch]) * qv;
        acc_b[jj][ch] += (BroadcastGroup<G>(pb + jj * G) * wb[ch]) * qv;
      });
    });
  }
  const int64_t step = s.D * s.G * s.KK, o = (s.D * n0 + ph) * (s.G * s.KK);
  float* const oa = oba + o + m * f.KG;
  float* const ob = obb + o + (m - 1) * f.KG;
  Unroll<J>([&](auto jc) {
    constexpr int jj = decltype(jc)::value;
    Unroll<NC>([&](auto cc) {
      constexpr int ch = decltype(cc)::value;
      DispStoreChunk<NC, ch>(f, oa + jj * step, acc_a[jj][ch]);
      DispStoreChunk<NC, ch>(f, ob + jj * step, acc_b[jj][ch]);
    });
  });
}

// Kernel row m of row a (m < K) and/or m - 1 of row b (Pb set, m > 0), one
// block of J pixels.
template <int G, int J, int NC>
inline void DispBlockRows(const Geometry& s, const DispGeo& f, const float* Pa,
                          const float* Pb, const float* Q, const float* Wd, int64_t ph,
                          int64_t n0, float* oba, float* obb, int64_t m) {
  const int64_t wk = s.g * f.VW;
  if (Pb && m > 0 && m < s.K)
    DispBlockPair<G, J, NC>(s, f, Pa, Pb, Q, Wd + m * wk, Wd + (m - 1) * wk, ph, n0, oba,
                            obb, m);
  else if (m < s.K)
    DispBlock<G, J, NC>(s, f, Pa, Q, Wd + m * wk, ph, n0, oba, m);
  else
    DispBlock<G, J, NC>(s, f, Pb, Q, Wd + (m - 1) * wk, ph, n0, obb, m - 1);
}

// Prefetches input rows that the next row (pair) will convert into L2, a
// few lines per block of work, so that the conversion does not wait on
// memory (the rows are strided reads of x that the hardware prefetchers
// do not cover).
struct Prefetcher {
  const char* ptr[16];
  int64_t lines[16];
  int n = 0, k = 0;
  int64_t pos = 0;
  void Add(const float* p, int64_t floats) {
    if (n < 16) {
      ptr[n] = reinterpret_cast<const char*>(p);
      lines[n++] = (floats * 4 + 63) / 64;
    }
  }
  void Step(int64_t count) {
    for (; count > 0 && k < n; --count) {
      _mm_prefetch(ptr[k] + 64 * pos, _MM_HINT_T1);
      if (++pos == lines[k]) {
        pos = 0;
        ++k;
      }
    }
  }
  void Finish() { Step(int64_t{1} << 40); }
};

// 16-float vectors of finished output streamed per row and block of work.
constexpr int64_t kStreamStep = 8;

// Output row a (and b = a + D if Pb): input rows Qm[m] = i + D*(m - R) for m
// in [m_begin, m_end) are inside the frame; m = K only exists for b.
// The finished pixels go to the output rows through sa (and sb if Pb),
// a few lines after each block.
template <int G, int NC>
inline void DispRows(const Geometry& s, const DispGeo& f, const float* Pa, const float* Pb,
                     const float* const* Qm, int64_t m_begin, int64_t m_end, const float* Wd,
                     float* oba, float* obb, Prefetcher* pf, RowStream* sa, RowStream* sb) {
  constexpr int J = DispGeo::PixelsPerBlock(NC);
  const int64_t nout = s.G * s.KK;
  // Kernel rows innermost: a block's prev pixels and output pixels stay in
  // L1 while all its kernel rows are computed.
  ForEachDispBlock<NC>(
      s,
      [&](int64_t ph, int64_t n, auto jj) {
        for (int64_t m = m_begin; m < m_end; ++m) {
          if constexpr (jj.value == J) pf->Step(16);
          DispBlockRows<G, jj.value, NC>(s, f, Pa, Pb, Qm[m], Wd, ph, n, oba, obb, m);
          sa->Step(kStreamStep);
          if (Pb) sb->Step(kStreamStep);
        }
      },
      [&](int64_t pixels) {
        sa->Ready(pixels * nout);
        if (Pb) sb->Ready(pixels * nout);
      });
}

inline void DispRowsDispatch(const Geometry& s, const DispGeo& f, const float* Pa,
                             const float* Pb, const float* const* Qm, int64_t m_begin,
                             int64_t m_end, const float* Wd, float* oba, float* obb,
                             Prefetcher* pf, RowStream* sa, RowStream* sb) {
  DispatchDisp(s, f, [&](auto g, auto nc) {
    DispRows<g.value, nc.value>(s, f, Pa, Pb, Qm, m_begin, m_end, Wd, oba, obb, pf, sa, sb);
  });
  pf->Finish();
  sa->Finish();
  if (Pb) sb->Finish();
}

// Zeroes the channels of kernel rows outside [ky_begin, ky_end) (their
// input row is outside the frame) of an output row buffer.
inline void DispZeroRows(const Geometry& s, const DispGeo& f, int64_t ky_begin, int64_t ky_end,
                         float* ob) {
  if (ky_begin <= 0 && ky_end >= s.K) return;
  const int64_t nout = s.G * s.KK;
  ky_end = std::max(ky_begin, ky_end);
  for (int64_t j = 0; j < s.W; ++j) {
    float* d = ob + j * nout;
    std::fill(d, d + ky_begin * f.KG, 0.f);
    std::fill(d + ky_end * f.KG, d + nout, 0.f);
  }
}

// Forward of frames [begin, end) (b*L + t) with per-thread scratch.
// Returns false if scratch memory could not be allocated.
//
// Up to kLockstep consecutive frames are processed row by row in lockstep,
// each with its own ring of converted rows: the prev rows of frame t are
// rows of frame t - 1, which sit in that frame's ring at the same step, so
// each input row is converted once instead of twice.
constexpr int64_t kLockstep = 4;
inline bool DispForward(const Geometry& s, const float* x, const float* w, float* out,
                        int64_t begin, int64_t end) {
  const DispGeo f(s);
  const int64_t xframe = s.H * s.W * s.C, xrow = s.W * s.C, nout = s.G * s.KK;
  // Rows are computed one dilation phase (row mod D) at a time, so a step
  // reads the K + 1 rows i - D*R .. i + D + D*R of one phase: each frame
  // keeps them in a ring of K + 1 slots (row ii in slot (ii / D) mod
  // (K + 1)), converted once per frame; two prev rows (when the prev frame
  // is not in the group); two output rows. The rings of a group take at most
  // 768 KB, well inside L2 (2 MB here): four rings of both phases (1.2 MB at
  // the benchmark shape) made the forward 12-18% slower than two.
  const int64_t slots = std::min((s.H + s.D - 1) / s.D, s.K + 1);
  const int64_t F = std::max<int64_t>(
      1, std::min({kLockstep, end - begin, (int64_t{3} << 18) / (slots * f.row * 4)}));
  Scratch qbuf(0, F * slots * f.row), pbuf(4, 2 * f.row), wbuf(2, F * s.K * s.g * f.VW),
      obuf(3, 2 * f.opix * nout + V);
  if (!qbuf.ok() || !pbuf.ok() || !wbuf.ok() || !obuf.ok()) return false;
  std::vector<int64_t> key(F * slots);
  const float* Qm[17];
  float* const oba = obuf.data();
  float* const obb = oba + f.opix * nout;
  // Rows in the order they are computed, phase by phase (i and i + D
  // together, or i alone near the bottom).
  std::vector<int64_t> order;
  for (int64_t ph = 0; ph < s.D; ++ph)
    for (int64_t i = ph; i < s.H; i += 2 * s.D) order.push_back(i);
  const int64_t nk = static_cast<int64_t>(order.size());
  for (int64_t g0 = begin; g0 < end; g0 += F) {
    const int64_t g1 = std::min(end, g0 + F);
    for (int64_t bt = g0; bt < g1; ++bt)
      DispWeights(s, f, w + (bt % s.L) * s.KK * s.C, wbuf.data() + (bt - g0) * s.K * s.g * f.VW);
    std::fill(key.begin(), key.end(), -1);
    // Converted row ii of frame bt (in the group), converting it if needed.
    auto ring_row = [&](int64_t bt, int64_t ii) {
      const int64_t fi = bt - g0, slot = fi * slots + (ii / s.D) % slots;
      float* q = qbuf.data() + slot * f.row;
      if (key[slot] != ii) {
        RowToDisp(s, f, x + bt * xframe + ii * xrow, q);
        key[slot] = ii;
      }
      return static_cast<const float*>(q);
    };
    for (int64_t k = 0; k < nk; ++k) {
      const int64_t i = order[k];
      const bool pair = i + s.D < s.H;
      for (int64_t bt = g0; bt < g1; ++bt) {
        const int64_t t = bt % s.L, b = bt / s.L, bp = b * s.L + (t > 0 ? t - 1 : 0);
        // m indexes input rows i + D*(m - R), m = 0..K.
        int64_t m_begin = s.K + 1, m_end = 0;
        for (int64_t m = 0; m <= (pair ? s.K : s.K - 1); ++m) {
          const int64_t ii = i + s.D * (m - s.R);
          if (ii < 0 || ii >= s.H) continue;
          m_begin = std::min(m_begin, m);
          m_end = m + 1;
          Qm[m] = ring_row(bt, ii);
        }
        // Prev rows: from the prev frame's ring (this step's rows i - D*R ..
        // are there), else converted here.
        const float* pa;
        const float* pb = nullptr;
        if (bp >= g0) {
          pa = ring_row(bp, i);
          if (pair) pb = ring_row(bp, i + s.D);
        } else {
          RowToDisp(s, f, x + bp * xframe + i * xrow, pbuf.data());
          pa = pbuf.data();
          if (pair) {
            RowToDisp(s, f, x + bp * xframe + (i + s.D) * xrow, pbuf.data() + f.row);
            pb = pbuf.data() + f.row;
          }
        }
        DispZeroRows(s, f, m_begin, std::min(m_end, s.K), oba);
        if (pair) DispZeroRows(s, f, std::max<int64_t>(m_begin - 1, 0), m_end - 1, obb);
        Prefetcher pf;
        if (k + 1 < nk) {
          // This frame's deepest current rows of the next step (the others
          // are in the ring already), and its prev rows if converted here.
          const int64_t i2 = order[k + 1];
          for (int64_t r : {i2 + s.D * (s.K - 1 - s.R), i2 + s.D * (s.K - s.R)})
            if (r < s.H) pf.Add(x + bt * xframe + r * xrow, xrow);
          if (bp < g0)
            for (int64_t r : {i2, i2 + s.D})
              if (r < s.H) pf.Add(x + bp * xframe + r * xrow, xrow);
        }
        float* const oframe = out + bt * s.H * s.W * nout;
        RowStream sa(oba, oframe + i * s.W * nout, s.W * nout),
            sb(obb, pair ? oframe + (i + s.D) * s.W * nout : nullptr, s.W * nout);
        DispRowsDispatch(s, f, pa, pb, Qm, m_begin, m_end,
                         wbuf.data() + (bt - g0) * s.K * s.g * f.VW, oba, obb, &pf, &sa, &sb);
      }
    }
  }
  StreamFence();
  return true;
}

// ---------------------------------------------------------------------------
// Backward fast paths, displacement-vectorised like the forward (same row
// layout Q, same DispGeo, same windows of J pixels cut from aligned loads;
// output rows i and i + D computed together so each window serves two
// multiply-adds).
//
// Grad kernel: for fixed (t, ky, c'), the K*G lanes e = kx*G + gi of
//   dw[t,ky,kx,gi*g+c'] = 1/g sum_{b,i,j} go[b,t,i,j,ky*KG+e] * prev[i,j,c] * x[i+dy,j+dx,c]
// are one vector: grad_out's K*G channels of kernel row ky at pixel j (a
// plain load) times the prev pixel (broadcast of G floats) times the window
// of the current row. No lane reduction: one accumulator per (ky, c', chunk).
//
// Grad input: dx[t] gathers, per pixel and channel c = gi*g + c', a sum over
// lanes e with e mod G = gi of 16-lane products from up to three sources:
//  - "previous" (x[t] is prev of step u = t+1, and of step 0 when t = 0):
//      w[u,ky,e,c'] * go[u,row,j,ky*KG+e] * window of x[u] row row+dy at j;
//  - "current" (x[t] is the current frame of step t): with lanes in
//    reversed kernel-column order (e' = (K-1-kx)*G + gi), the window of
//    prev row r = row - dy at j holds prev[r, j - dx] in lane e', and
//      w[t,ky,K-1-kr,c'] * go[t,r,j-dx,ky*KG+(K-1-kr)*G+gi] * that window
//    where the grad_out factor is a skewed gather (built once per row and ky).
// The products of all sources and kernel rows are summed per (pixel, c')
// in one 16-lane register and reduced over lanes once (ReduceGroups).

// Lanes < n of a 16-lane chunk (n may exceed 16).
inline __mmask16 LaneMask(int64_t n) {
  return n >= V ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// Grad kernel, J pixels n0.. of phase ph, input row Q; row a (kernel row m,
// if HA) and row b (kernel row m - 1, if HB). goa/gob: grad_out rows.
// acc[(ky*g + c')*VW + e] accumulates.
template <int G, int J, int NC, bool HA, bool HB>
inline void DispKGradBlock(const Geometry& s, const DispGeo& f, const float* Pa,
                           const float* Pb, const float* Q, const float* goa,
                           const float* gob, int64_t ph, int64_t n0, int64_t m, float* acc) {
  constexpr int NA = DispGeo::NA(G, J, NC);
  const int64_t nout = s.G * s.KK, cstride = s.D * f.S, off = ph * f.S + n0 * G;
  v16 ga[J][NC], gb[J][NC];
  Unroll<J>([&](auto jc) {
    constexpr int jj = decltype(jc)::value;
    const int64_t pix = (s.D * (n0 + jj) + ph) * nout;
    Unroll<NC>([&](auto cc) {
      constexpr int ch = decltype(cc)::value;
      const __mmask16 mk = LaneMask(f.KG - ch * V);
      if (HA) ga[jj][ch] = (v16)_mm512_maskz_loadu_ps(mk, goa + pix + m * f.KG + ch * V);
      if (HB) gb[jj][ch] = (v16)_mm512_maskz_loadu_ps(mk, gob + pix + (m - 1) * f.KG + ch * V);
    });
  });
  float* const acca = acc + m * s.g * f.VW;
  float* const accb = acc + (m - 1) * s.g * f.VW;
  for (int64_t c = 0; c < s.g; ++c) {
    const float* q = Q + c * cstride + off;
    const float* pa = HA ? Pa + c * cstride + off + s.R * G : nullptr;
    const float* pb = HB ? Pb + c * cstride + off + s.R * G : nullptr;
    v16 A[NA];
    for (int k = 0; k < NA; ++k) A[k] = *reinterpret_cast<const v16*>(q + k * V);
    v16 sa[2][NC] = {}, sb[2][NC] = {};
    Unroll<J>([&](auto jc) {
      constexpr int jj = decltype(jc)::value;
      Unroll<NC>([&](auto cc) {
        constexpr int ch = decltype(cc)::value;
        const v16 qv = Window<G, jj, ch>(A);
        if (HA) sa[jj & 1][ch] += (ga[jj][ch] * BroadcastGroup<G>(pa + jj * G)) * qv;
        if (HB) sb[jj & 1][ch] += (gb[jj][ch] * BroadcastGroup<G>(pb + jj * G)) * qv;
      });
    });
    for (int ch = 0; ch < NC; ++ch) {
      if (HA) Store(acca + c * f.VW + ch * V, Load(acca + c * f.VW + ch * V) + sa[0][ch] + sa[1][ch]);
      if (HB) Store(accb + c * f.VW + ch * V, Load(accb + c * f.VW + ch * V) + sb[0][ch] + sb[1][ch]);
    }
  }
}

template <int G, int J, int NC>
inline void DispKGradRows(const Geometry& s, const DispGeo& f, const float* Pa,
                          const float* Pb, const float* Q, const float* goa, const float* gob,
                          int64_t ph, int64_t n0, int64_t m, float* acc) {
  if (Pb && m > 0 && m < s.K)
    DispKGradBlock<G, J, NC, true, true>(s, f, Pa, Pb, Q, goa, gob, ph, n0, m, acc);
  else if (m < s.K)
    DispKGradBlock<G, J, NC, true, false>(s, f, Pa, Pb, Q, goa, gob, ph, n0, m, acc);
  else
    DispKGradBlock<G, J, NC, false, true>(s, f, Pa, Pb, Q, goa, gob, ph, n0, m, acc);
}

template <int G, int NC>
inline void DispKGradAll(const Geometry& s, const DispGeo& f, const float* Pa, const float* Pb,
                         const float* const* Qm, int64_t m_begin, int64_t m_end,
                         const float* goa, const float* gob, float* acc) {
  ForEachDispBlock<NC>(s, [&](int64_t ph, int64_t n, auto jj) {
    for (int64_t m = m_begin; m < m_end; ++m)
      DispKGradRows<G, jj.value, NC>(s, f, Pa, Pb, Qm[m], goa, gob, ph, n, m, acc);
  });
}

inline void DispKGradDispatch(const Geometry& s, const DispGeo& f, const float* Pa,
                              const float* Pb, const float* const* Qm, int64_t m_begin,
                              int64_t m_end, const float* goa, const float* gob, float* acc) {
  DispatchDisp(s, f, [&](auto g, auto nc) {
    DispKGradAll<g.value, nc.value>(s, f, Pa, Pb, Qm, m_begin, m_end, goa, gob, acc);
  });
}

// Rows in the order the displacement kernels compute them (i and i + D
// together, or i alone near the bottom).
inline std::vector<int64_t> DispRowOrder(const Geometry& s) {
  std::vector<int64_t> order;
  for (int64_t b0 = 0; b0 < s.H; b0 += 2 * s.D)
    for (int64_t i = b0; i < std::min(b0 + s.D, s.H); ++i) order.push_back(i);
  return order;
}

// Grad kernel of frame indices [begin, end) (t), summed over the batch.
inline bool DispGradKernel(const Geometry& s, const float* x, const float* go, float* dw,
                           int64_t begin, int64_t end) {
  const DispGeo f(s);
  const int64_t xframe = s.H * s.W * s.C, xrow = s.W * s.C, nout = s.G * s.KK;
  const int64_t slots = std::min(s.H, 2 * s.D * s.R + s.D + 1);
  Scratch qbuf(0, slots * f.row), pbuf(4, 2 * f.row), abuf(2, s.K * s.g * f.VW);
  if (!qbuf.ok() || !pbuf.ok() || !abuf.ok()) return false;
  std::vector<int64_t> key(slots);
  const std::vector<int64_t> order = DispRowOrder(s);
  const float* Qm[17];
  float* const acc = abuf.data();
  for (int64_t t = begin; t < end; ++t) {
    std::fill(acc, acc + s.K * s.g * f.VW, 0.f);
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t bt = b * s.L + t, bp = b * s.L + (t > 0 ? t - 1 : 0);
      std::fill(key.begin(), key.end(), -1);
      for (int64_t i : order) {
        const bool pair = i + s.D < s.H;
        int64_t m_begin = s.K + 1, m_end = 0;
        for (int64_t m = 0; m <= (pair ? s.K : s.K - 1); ++m) {
          const int64_t ii = i + s.D * (m - s.R);
          if (ii < 0 || ii >= s.H) continue;
          m_begin = std::min(m_begin, m);
          m_end = m + 1;
          const int64_t slot = ii % slots;
          float* q = qbuf.data() + slot * f.row;
          if (key[slot] != ii) {
            RowToDisp(s, f, x + bt * xframe + ii * xrow, q);
            key[slot] = ii;
          }
          Qm[m] = q;
        }
        RowToDisp(s, f, x + bp * xframe + i * xrow, pbuf.data());
        if (pair) RowToDisp(s, f, x + bp * xframe + (i + s.D) * xrow, pbuf.data() + f.row);
        const float* goa = go + (bt * s.H + i) * s.W * nout;
        DispKGradDispatch(s, f, pbuf.data(), pair ? pbuf.data() + f.row : nullptr, Qm, m_begin,
                          m_end, goa, pair ? goa + s.D * s.W * nout : nullptr, acc);
      }
    }
    const float inv_g = 1.0f / s.g;
    for (int64_t ky = 0; ky < s.K; ++ky)
      for (int64_t kx = 0; kx < s.K; ++kx)
        for (int64_t gi = 0; gi < s.G; ++gi)
          for (int64_t c = 0; c < s.g; ++c)
            dw[((t * s.K + ky) * s.K + kx) * s.C + gi * s.g + c] =
                acc[(ky * s.g + c) * f.VW + kx * s.G + gi] * inv_g;
  }
  return true;
}

// dst[gi*g + c] = sum over lanes l with l mod G == gi of in[c][l], for the
// c < 16 selected by mask (in: 16 vectors, one per c).
template <int G>
inline void ReduceGroups(const v16* in, float* dst, int64_t g, __mmask16 mask) {
  __m512 r1[8];
  for (int p = 0; p < 8; ++p) {
    const __m512 a = (__m512)in[2 * p], b = (__m512)in[2 * p + 1];
    r1[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
  }
  alignas(64) float t[128];
  if (G == 8) {
    for (int p = 0; p < 8; ++p) _mm512_store_ps(t + 16 * p, r1[p]);
    const __m512i c = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    // (c, gi) at (c/2)*16 + 8*(c%2) + gi.
    const __m512i base = _mm512_add_epi32(_mm512_slli_epi32(_mm512_srli_epi32(c, 1), 4),
                                          _mm512_slli_epi32(_mm512_and_si512(c, _mm512_set1_epi32(1)), 3));
    for (int gi = 0; gi < 8; ++gi)
      _mm512_mask_storeu_ps(dst + gi * g, mask, _mm512_i32gather_ps(
          _mm512_add_epi32(base, _mm512_set1_epi32(gi)), t, 4));
    return;
  }
  __m512 r2[4];
  for (int q = 0; q < 4; ++q)
    r2[q] = _mm512_add_ps(_mm512_shuffle_f32x4(r1[2 * q], r1[2 * q + 1], 0x88),
                          _mm512_shuffle_f32x4(r1[2 * q], r1[2 * q + 1], 0xdd));
  if (G == 4) {
    for (int q = 0; q < 4; ++q) _mm512_store_ps(t + 16 * q, r2[q]);
    // (c, gi) at (c/4)*16 + 4*(c%4) + gi.
    const __m512i base = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52,
                                           56, 60);
    for (int gi = 0; gi < 4; ++gi)
      _mm512_mask_storeu_ps(dst + gi * g, mask, _mm512_i32gather_ps(
          _mm512_add_epi32(base, _mm512_set1_epi32(gi)), t, 4));
    return;
  }
  __m512 r3[2];
  for (int h = 0; h < 2; ++h)
    r3[h] = _mm512_add_ps(_mm512_shuffle_ps(r2[2 * h], r2[2 * h + 1], 0x44),
                          _mm512_shuffle_ps(r2[2 * h], r2[2 * h + 1], 0xee));
  // (c, gi) at (c/8)*16 + 4*(c%4) + 2*((c/4)%2) + gi.
  const __m512i base = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 16, 20, 24, 28, 18, 22, 26,
                                         30);
  for (int gi = 0; gi < 2; ++gi)
    _mm512_mask_storeu_ps(dst + gi * g, mask, _mm512_permutex2var_ps(
        r3[0], _mm512_add_epi32(base, _mm512_set1_epi32(gi)), r3[1]));
}

// One source of the input gradient for the current row pair: window rows
// Qm[m], per-(kernel row, pixel) grad_out vectors of rows a and b
// (va/vb[(ky*W + j)*VW + e]), weights wd[(c'*K + ky)*VW + e]; row a uses
// kernel row ky0 + dir*m, row b ky0 + dir*(m - 1).
struct IGradSource {
  const float* Qm[17];
  const float* va[17];  // per m: vectors of row a's kernel row for m, [j*VW + e]
  const float* vb[17];
  const float* wa[17];  // per m: weights of row a's kernel row, [c'*K*VW + e]
  const float* wb[17];
  const float* wd;
  int64_t ky0, dir;
};

template <int G, int J, int NC, bool HA, bool HB>
inline void IGradStep(const DispGeo& f, const v16* A, const float* va, const float* vb,
                      const float* wa, const float* wb, int64_t vstride, v16* acca, v16* accb) {
  v16 wva[NC], wvb[NC];
  for (int ch = 0; ch < NC; ++ch) {
    if (HA) wva[ch] = Load(wa + ch * V);
    if (HB) wvb[ch] = Load(wb + ch * V);
  }
  Unroll<J>([&](auto jc) {
    constexpr int jj = decltype(jc)::value;
    Unroll<NC>([&](auto cc) {
      constexpr int ch = decltype(cc)::value;
      const v16 qv = Window<G, jj, ch>(A);
      if (HA) acca[jj] += (*reinterpret_cast<const v16*>(va + jj * vstride + ch * V) * wva[ch]) * qv;
      if (HB) accb[jj] += (*reinterpret_cast<const v16*>(vb + jj * vstride + ch * V) * wvb[ch]) * qv;
    });
  });
}

// Input gradient of rows a (and b if HB_ROW), J pixels n0.. of phase ph.
template <int G, int J, int NC>
inline void DispIGradBlock(const Geometry& s, const DispGeo& f, const IGradSource* src,
                           int nsrc, int64_t m_begin, int64_t m_end, bool pair, int64_t ph,
                           int64_t n0, float* dxa, float* dxb, v16* tmp, Prefetcher* pf) {
  constexpr int NA = DispGeo::NA(G, J, NC);
  const int64_t cstride = s.D * f.S, off = ph * f.S + n0 * G;
  const int64_t vstride = s.D * f.VW, voff = (s.D * n0 + ph) * f.VW;
  for (int64_t c0 = 0; c0 < s.g; c0 += V) {
    const int64_t nc = std::min(V, s.g - c0);
    for (int64_t c = c0; c < c0 + nc; ++c) {
      pf->Step(16);
      v16 acca[J] = {}, accb[J] = {};
      for (int64_t m = m_begin; m < m_end; ++m) {
        const bool ha = m < s.K, hb = pair && m > 0;
        for (int k = 0; k < nsrc; ++k) {
          const IGradSource& sr = src[k];
          const float* q = sr.Qm[m] + c * cstride + off;
          v16 A[NA];
          for (int a = 0; a < NA; ++a) A[a] = *reinterpret_cast<const v16*>(q + a * V);
          const float* va = sr.va[m] + voff;
          const float* vb = sr.vb[m] + voff;
          const float* wa = sr.wa[m] + c * s.K * f.VW;
          const float* wb = sr.wb[m] + c * s.K * f.VW;
          // The next channel's windows: m and the sources vary inside the
          // channel loop, so the hardware's stride prefetchers miss them.
          for (int a = 0; a < NA; ++a)
            _mm_prefetch(reinterpret_cast<const char*>(q + cstride + a * V), _MM_HINT_T0);
          if (ha && hb)
            IGradStep<G, J, NC, true, true>(f, A, va, vb, wa, wb, vstride, acca, accb);
          else if (ha)
            IGradStep<G, J, NC, true, false>(f, A, va, vb, wa, wb, vstride, acca, accb);
          else
            IGradStep<G, J, NC, false, true>(f, A, va, vb, wa, wb, vstride, acca, accb);
        }
      }
      for (int jj = 0; jj < J; ++jj) {
        tmp[jj * V + (c - c0)] = acca[jj];
        tmp[(J + jj) * V + (c - c0)] = accb[jj];
      }
    }
    const __mmask16 mask = LaneMask(nc);
    for (int jj = 0; jj < J; ++jj) {
      const int64_t pix = (s.D * (n0 + jj) + ph) * s.C + c0;
      ReduceGroups<G>(tmp + jj * V, dxa + pix, s.g, mask);
      if (pair) ReduceGroups<G>(tmp + (J + jj) * V, dxb + pix, s.g, mask);
    }
  }
}

template <int G, int NC>
inline void DispIGradAll(const Geometry& s, const DispGeo& f, const IGradSource* src, int nsrc,
                         int64_t m_begin, int64_t m_end, bool pair, float* dxa, float* dxb,
                         v16* tmp, Prefetcher* pf) {
  ForEachDispBlock<NC>(s, [&](int64_t ph, int64_t n, auto jj) {
    DispIGradBlock<G, jj.value, NC>(s, f, src, nsrc, m_begin, m_end, pair, ph, n, dxa, dxb,
                                    tmp, pf);
  });
}

inline void DispIGradDispatch(const Geometry& s, const DispGeo& f, const IGradSource* src,
                              int nsrc, int64_t m_begin, int64_t m_end, bool pair, float* dxa,
                              float* dxb, v16* tmp, Prefetcher* pf) {
  DispatchDisp(s, f, [&](auto g, auto nc) {
    DispIGradAll<g.value, nc.value>(s, f, src, nsrc, m_begin, m_end, pair, dxa, dxb, tmp, pf);
  });
  pf->Finish();
}

// v[(ky*W + j)*VW + e] = go_row[j*nout + ky*KG + e] for e < KG, zero in the
// spare lanes ("previous" source: grad_out of the row itself).
inline void GoStraight(const Geometry& s, const DispGeo& f, const float* go_row, float* v) {
  const int64_t nout = s.G * s.KK;
  for (int64_t j = 0; j < s.W; ++j)
    for (int64_t ky = 0; ky < s.K; ++ky)
      for (int64_t ch = 0; ch < f.NC; ++ch)
        _mm512_store_ps(v + (ky * s.W + j) * f.VW + ch * V,
                        _mm512_maskz_loadu_ps(LaneMask(f.KG - ch * V),
                                              go_row + j * nout + ky * f.KG + ch * V));
}

// Kernel row ky of the "current" source of dx row `row`: grad_out row
// r = row - D*(ky - R) (inside the frame), lanes in reversed column order:
// v[(ky*W + j)*VW + kr*G + gi] = go[r][j + D*(kr - R)][ky*KG + (K-1-kr)*G + gi]
// (zero outside the row).
inline void GoSkewed(const Geometry& s, const DispGeo& f, const float* go_r, int64_t ky,
                     float* v) {
  const int64_t nout = s.G * s.KK, reach = s.D * s.R;
  // Lane (kr, gi) of chunk ch reads go_r[idx + j*nout + ky*KG]; one gather
  // per chunk (masked near the row ends, where pixels fall outside).
  __m512i idx[4];
  __mmask16 lanes[4];
  for (int64_t ch = 0; ch < f.NC; ++ch) {
    alignas(64) int32_t id[V];
    for (int64_t l = 0; l < V; ++l) {
      const int64_t e = ch * V + l, kr = std::min(e / s.G, s.K - 1), gi = e % s.G;
      id[l] = static_cast<int32_t>(s.D * (kr - s.R) * nout + (s.K - 1 - kr) * s.G + gi);
    }
    idx[ch] = _mm512_load_si512(id);
    lanes[ch] = LaneMask(f.KG - ch * V);
  }
  for (int64_t j = 0; j < s.W; ++j) {
    const bool inside = j >= reach && j + reach < s.W;
    const __m512i off = _mm512_set1_epi32(static_cast<int32_t>(j * nout + ky * f.KG));
    for (int64_t ch = 0; ch < f.NC; ++ch) {
      __mmask16 mk = lanes[ch];
      if (!inside) {
        for (int64_t kr = 0; kr < s.K; ++kr) {
          const int64_t js = j + s.D * (kr - s.R), l = kr * s.G - ch * V;
          if ((js < 0 || js >= s.W) && l >= 0 && l < V)
            mk &= static_cast<__mmask16>(~(((1u << s.G) - 1) << l));
        }
      }
      _mm512_store_ps(v + (ky * s.W + j) * f.VW + ch * V,
                      _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk,
                                               _mm512_add_epi32(idx[ch], off), go_r, 4));
    }
  }
}

// Grad input of frames [begin, end) (b*L + t).
inline bool DispGradInput(const Geometry& s, const float* x, const float* w, const float* go,
                          float* dx, int64_t begin, int64_t end) {
  const DispGeo f(s);
  const int64_t xframe = s.H * s.W * s.C, xrow = s.W * s.C, nout = s.G * s.KK;
  const int64_t gframe = s.H * s.W * nout, grow = s.W * nout;
  const int64_t slots = std::min(s.H, 2 * s.D * s.R + s.D + 1);
  const int64_t wsize = s.K * s.g * f.VW, vsize = s.K * s.W * f.VW;
  // Up to three sources, each with a ring of window rows and weights; the
  // current source's skewed grad_out rows (all kernel rows) in a ring keyed
  // like its window rows; the previous sources' grad_out of rows a and b.
  Scratch qbuf(0, 3 * slots * f.row), wbuf(2, 3 * wsize), vbuf(3, (slots + 4) * vsize),
      tbuf(4, 2 * 8 * V * V);
  if (!qbuf.ok() || !wbuf.ok() || !vbuf.ok() || !tbuf.ok()) return false;
  std::vector<int64_t> key(3 * slots);
  std::vector<float> wtmp(wsize);
  const std::vector<int64_t> order = DispRowOrder(s);
  v16* const tmp = reinterpret_cast<v16*>(tbuf.data());
  std::fill(tbuf.data(), tbuf.data() + 2 * 8 * V * V, 0.f);
  float* const skew = vbuf.data();
  float* const straight = vbuf.data() + slots * vsize;
  for (int64_t bt = begin; bt < end; ++bt) {
    const int64_t t = bt % s.L, b = bt / s.L, bp = b * s.L + (t > 0 ? t - 1 : 0);
    // Sources: 0 = current (step t, windows of prev frame bp, go of bt),
    // then previous of step t + 1, and of step 0 when t == 0.
    IGradSource src[3];
    int64_t wframe[3], gof[3];
    int nsrc = 0;
    {
      // Reversed lane order for the current source.
      DispWeights(s, f, w + t * s.KK * s.C, wtmp.data());
      float* wd = wbuf.data();
      std::fill(wd, wd + wsize, 0.f);
      for (int64_t ky = 0; ky < s.K; ++ky)
        for (int64_t c = 0; c < s.g; ++c)
          for (int64_t kr = 0; kr < s.K; ++kr)
            for (int64_t gi = 0; gi < s.G; ++gi)
              wd[(c * s.K + ky) * f.VW + kr * s.G + gi] =
                  wtmp[(ky * s.g + c) * f.VW + (s.K - 1 - kr) * s.G + gi];
      src[0].wd = wd;
      src[0].ky0 = s.K - 1;
      src[0].dir = -1;
      wframe[0] = bp;
      gof[0] = bt;
      nsrc = 1;
    }
    for (int64_t u : {t + 1, int64_t{-1}}) {
      if (u == -1) u = t == 0 ? 0 : s.L;
      if (u >= s.L) continue;
      float* wd = wbuf.data() + nsrc * wsize;
      DispWeights(s, f, w + u * s.KK * s.C, wtmp.data());
      for (int64_t ky = 0; ky < s.K; ++ky)
        for (int64_t c = 0; c < s.g; ++c)
          std::copy_n(&wtmp[(ky * s.g + c) * f.VW], f.VW, wd + (c * s.K + ky) * f.VW);
      src[nsrc].wd = wd;
      src[nsrc].ky0 = 0;
      src[nsrc].dir = 1;
      wframe[nsrc] = b * s.L + u;
      gof[nsrc] = b * s.L + u;
      ++nsrc;
    }
    std::fill(key.begin(), key.end(), -1);
    for (size_t step = 0; step < order.size(); ++step) {
      const int64_t i = order[step];
      const bool pair = i + s.D < s.H;
      int64_t m_begin = s.K + 1, m_end = 0;
      for (int64_t m = 0; m <= (pair ? s.K : s.K - 1); ++m) {
        const int64_t ii = i + s.D * (m - s.R);
        if (ii < 0 || ii >= s.H) continue;
        m_begin = std::min(m_begin, m);
        m_end = m + 1;
        for (int k = 0; k < nsrc; ++k) {
          const int64_t slot = k * slots + ii % slots;
          float* q = qbuf.data() + slot * f.row;
          float* sk = skew + (ii % slots) * vsize;
          if (key[slot] != ii) {
            RowToDisp(s, f, x + wframe[k] * xframe + ii * xrow, q);
            // Current source: grad_out row ii skewed for every kernel row.
            if (k == 0)
              for (int64_t ky = 0; ky < s.K; ++ky) GoSkewed(s, f, go + bt * gframe + ii * grow, ky, sk);
            key[slot] = ii;
          }
          IGradSource& sr = src[k];
          sr.Qm[m] = q;
          const int64_t kya = sr.ky0 + sr.dir * m, kyb = kya - sr.dir;
          if (k == 0) {
            sr.va[m] = sk + kya * s.W * f.VW;
            sr.vb[m] = sk + kyb * s.W * f.VW;
          } else {
            float* v = straight + 2 * (k - 1) * vsize;
            sr.va[m] = v + kya * s.W * f.VW;
            sr.vb[m] = v + vsize + kyb * s.W * f.VW;
          }
          sr.wa[m] = sr.wd + kya * f.VW;
          sr.wb[m] = sr.wd + kyb * f.VW;
        }
      }
      // grad_out of rows a = i and b = i + D for the previous sources.
      for (int k = 1; k < nsrc; ++k)
        for (int rb = 0; rb < (pair ? 2 : 1); ++rb)
          GoStraight(s, f, go + gof[k] * gframe + (i + rb * s.D) * grow,
                     straight + (2 * (k - 1) + rb) * vsize);
      // Into L2 during this step: the rows the next step reads first (new
      // window rows and skewed grad_out rows, the previous sources' rows).
      Prefetcher pf;
      if (step + 1 < order.size()) {
        const int64_t i2 = order[step + 1];
        for (int64_t r : {i2 + s.D * (s.K - 1 - s.R), i2 + s.D * (s.K - s.R)}) {
          if (r >= s.H) continue;
          for (int k = 0; k < nsrc; ++k) pf.Add(x + wframe[k] * xframe + r * xrow, xrow);
          pf.Add(go + bt * gframe + r * grow, grow);
        }
        for (int k = 1; k < nsrc; ++k)
          for (int64_t r : {i2, i2 + s.D})
            if (r < s.H) pf.Add(go + gof[k] * gframe + r * grow, grow);
      }
      float* const dxa = dx + (bt * s.H + i) * xrow;
      DispIGradDispatch(s, f, src, nsrc, m_begin, m_end, pair, dxa, pair ? dxa + s.D * xrow : nullptr,
                        tmp, &pf);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// Grad input vectorised over channels (g a multiple of 16): the output index
// of d/dx is the channel, so 16 channels of one group are one vector and
// every multiply-add is full width with no lane reduction:
//   dx[ii,jj,c] += w[t,ky,kx,c]/g * go[t,ii-dy,jj-dx,k*G+gi] * prev[ii-dy,jj-dx,c]
//                + w[u,ky,kx,c]/g * go[u,ii,jj,k*G+gi] * x[u,ii+dy,jj+dx,c]
// (u = t+1, and u = 0 when t = 0); grad_out enters as a broadcast scalar.
// Rows are read in place; only tiles within D*R pixels of the frame's
// sides test which of their source pixels are inside.
// (K <= 15: the row pointer arrays and the grad-kernel accumulators.)
inline bool ChanIGradUsable(const Geometry& s) { return s.g % V == 0 && s.K <= 15; }

// One tile: pixels j0 .. j0+J-1 of dx row ii, channels c0 .. c0+16*CB-1.
// cur_x/cur_g[ky]: prev-frame and grad_out rows ii - D*(ky-R) (null
// outside the frame); wc = w[t]/g. prv_x[k][ky]: rows ii + D*(ky-R)
// of x[u_k], prv_g[k]: grad_out row ii of frame u_k, wp[k] = w[u_k]/g.
template <int J, int CB, bool EDGE, int CT, int NT>
inline void ChanIGradTile(const Geometry& s, const float* const* cur_x,
                          const float* const* cur_g, const float* wc, int nprv,
                          const float* const (*prv_x)[16], const float* const* prv_g,
                          const float* const* wp, int64_t j0, int64_t c0, float* dx_row) {
  // The CB vectors are channels of one group: one broadcast per pixel.
  // CT, NT: C and K*K*G when known at compile time, so that the J pixels'
  // addresses are one register plus constant offsets (with run-time
  // strides the compiler kept J pointers and spilled them).
  const int64_t C = CT ? CT : s.C, nout = NT ? NT : s.G * s.KK, gi = c0 / s.g;
  v16 acc[J][CB] = {};
  for (int64_t ky = 0; ky < s.K; ++ky) {
    const float* xr = cur_x[ky];
    if (!xr) continue;
    const float* gr = cur_g[ky];
    for (int64_t kx = 0; kx < s.K; ++kx) {
      const int64_t k = ky * s.K + kx, pix = j0 - s.D * (kx - s.R);
      v16 wv[CB];
      for (int cb = 0; cb < CB; ++cb) wv[cb] = Load(wc + k * C + c0 + cb * V);
      Unroll<J>([&](auto jc) {
        constexpr int jj = decltype(jc)::value;
        if (EDGE && (pix + jj < 0 || pix + jj >= s.W)) return;
        const v16 gv = (v16)_mm512_set1_ps(gr[(pix + jj) * nout + k * s.G + gi]);
        const float* xp = xr + (pix + jj) * C + c0;
        Unroll<CB>([&](auto cc) {
          constexpr int cb = decltype(cc)::value;
          acc[jj][cb] += (Load(xp + cb * V) * gv) * wv[cb];
        });
      });
    }
  }
  for (int p = 0; p < nprv; ++p) {
    const float* gr = prv_g[p];
    for (int64_t ky = 0; ky < s.K; ++ky) {
      const float* xr = prv_x[p][ky];
      if (!xr) continue;
      for (int64_t kx = 0; kx < s.K; ++kx) {
        const int64_t k = ky * s.K + kx, pix = j0 + s.D * (kx - s.R);
        v16 wv[CB];
        for (int cb = 0; cb < CB; ++cb) wv[cb] = Load(wp[p] + k * C + c0 + cb * V);
        Unroll<J>([&](auto jc) {
          constexpr int jj = decltype(jc)::value;
          if (EDGE && (pix + jj < 0 || pix + jj >= s.W)) return;
          const v16 gv = (v16)_mm512_set1_ps(gr[(j0 + jj) * nout + k * s.G + gi]);
          const float* xp = xr + (pix + jj) * C + c0;
          Unroll<CB>([&](auto cc) {
            constexpr int cb = decltype(cc)::value;
            acc[jj][cb] += (wv[cb] * gv) * Load(xp + cb * V);
          });
        });
      }
    }
  }
  for (int jj = 0; jj < J; ++jj)
    for (int cb = 0; cb < CB; ++cb) Store(dx_row + (j0 + jj) * C + c0 + cb * V, acc[jj][cb]);
}

// Tiles of J pixels x CB channel vectors, channels innermost (the tiles
// of one pixel range share their grad_out lines in L1).
template <int J, int CB, int CT, int NT>
inline void ChanIGradRow(const Geometry& s, const float* const* cur_x, const float* const* cur_g,
                         const float* wc, int nprv, const float* const (*prv_x)[16],
                         const float* const* prv_g, const float* const* wp, float* dx_row) {
  const int64_t P = s.D * s.R;
  int64_t j = 0;
  for (; j + J <= s.W; j += J) {
    const bool edge = j < P || j + J - 1 + P >= s.W;
    for (int64_t c0 = 0; c0 < s.C; c0 += CB * V) {
      if (edge)
        ChanIGradTile<J, CB, true, CT, NT>(s, cur_x, cur_g, wc, nprv, prv_x, prv_g, wp, j, c0,
                                           dx_row);
      else
        ChanIGradTile<J, CB, false, CT, NT>(s, cur_x, cur_g, wc, nprv, prv_x, prv_g, wp, j, c0,
                                            dx_row);
    }
  }
  for (; j < s.W; ++j)
    for (int64_t c0 = 0; c0 < s.C; c0 += CB * V)
      ChanIGradTile<1, CB, true, CT, NT>(s, cur_x, cur_g, wc, nprv, prv_x, prv_g, wp, j, c0,
                                         dx_row);
}

// Grad input of frames [begin, end) (b*L + t), channel-vectorised.
inline bool ChanGradInput(const Geometry& s, const float* x, const float* w, const float* go,
                          float* dx, int64_t begin, int64_t end) {
  const int64_t nout = s.G * s.KK, xframe = s.H * s.W * s.C, gframe = s.H * s.W * nout;
  const int64_t KKC = s.KK * s.C;
  Scratch wbuf(2, 3 * KKC);
  if (!wbuf.ok()) return false;
  const float inv_g = 1.0f / s.g;
  for (int64_t bt = begin; bt < end; ++bt) {
    const int64_t t = bt % s.L, b = bt / s.L, bp = b * s.L + (t > 0 ? t - 1 : 0);
    int64_t us[2];
    int nprv = 0;
    if (t + 1 < s.L) us[nprv++] = b * s.L + t + 1;
    if (t == 0) us[nprv++] = b * s.L;
    float* wc = wbuf.data();
    for (int64_t e = 0; e < KKC; ++e) wc[e] = w[t * KKC + e] * inv_g;
    const float* wp[2];
    for (int p = 0; p < nprv; ++p) {
      float* d = wbuf.data() + (p + 1) * KKC;
      const float* src = w + (us[p] % s.L) * KKC;
      for (int64_t e = 0; e < KKC; ++e) d[e] = src[e] * inv_g;
      wp[p] = d;
    }
    for (int64_t ii = 0; ii < s.H; ++ii) {
      const float* cur_x[16];
      const float* cur_g[16];
      const float* prv_x[2][16];
      const float* prv_g[2];
      for (int64_t ky = 0; ky < s.K; ++ky) {
        const int64_t r = ii - s.D * (ky - s.R), r2 = ii + s.D * (ky - s.R);
        const bool in = r >= 0 && r < s.H, in2 = r2 >= 0 && r2 < s.H;
        cur_x[ky] = in ? x + bp * xframe + r * s.W * s.C : nullptr;
        cur_g[ky] = in ? go + bt * gframe + r * s.W * nout : nullptr;
        for (int p = 0; p < nprv; ++p)
          prv_x[p][ky] = in2 ? x + us[p] * xframe + r2 * s.W * s.C : nullptr;
      }
      for (int p = 0; p < nprv; ++p) prv_g[p] = go + us[p] * gframe + ii * s.W * nout;
      float* dx_row = dx + (bt * s.H + ii) * s.W * s.C;
      // 8 pixels x 2 vectors of one group (tried: 4x4, 4x2, 6x2, 12x1, 16x1).
      const int64_t two = s.g % (2 * V) == 0;
#define AZ_ROW(CC, NN)                                                                   \
  if (two)                                                                               \
    ChanIGradRow<8, 2, CC, NN>(s, cur_x, cur_g, wc, nprv, prv_x, prv_g, wp, dx_row);     \
  else                                                                                   \
    ChanIGradRow<16, 1, CC, NN>(s, cur_x, cur_g, wc, nprv, prv_x, prv_g, wp, dx_row);
      if (s.C == 64 && nout == 98) {  // K = 7: CorrNet's 64, 128, 256 channels
        AZ_ROW(64, 98)
      } else if (s.C == 128 && nout == 196) {
        AZ_ROW(128, 196)
      } else if (s.C == 256 && nout == 392) {
        AZ_ROW(256, 392)
      } else {
        AZ_ROW(0, 0)
      }
#undef AZ_ROW
    }
  }
  return true;
}

// Grad kernel vectorised over channels (g a multiple of 16): for 16
// channels of one group,
//   dw[t,ky,kx,c] += go[i,j,k*G+gi] * prev[i,j,c] * x[i+dy,j+dx,c]
// with all K kernel columns of one kernel row accumulated in registers
// while the pixels of a row pass (pixels [j0, j1); EDGE: test j + dx).
template <int KT, int CB, bool EDGE, int CT>
inline void ChanKGradRun(const Geometry& s, const float* prow, const float* xrow,
                         const float* grow, int64_t ky, int64_t c0, int64_t j0, int64_t j1,
                         float* acc) {
  const int64_t K = KT ? KT : s.K, C = CT ? CT : s.C, nout = s.G * s.KK, gi = c0 / s.g;
  v16 a[KT ? KT : 15][CB];
  for (int64_t kx = 0; kx < K; ++kx)
    for (int cb = 0; cb < CB; ++cb) a[kx][cb] = Load(acc + (ky * K + kx) * C + c0 + cb * V);
  for (int64_t j = j0; j < j1; ++j) {
    v16 pv[CB];
    for (int cb = 0; cb < CB; ++cb) pv[cb] = Load(prow + j * C + c0 + cb * V);
    const float* g = grow + j * nout + ky * K * s.G + gi;
    for (int64_t kx = 0; kx < K; ++kx) {
      const int64_t jx = j + s.D * (kx - K / 2);
      if (EDGE && (jx < 0 || jx >= s.W)) continue;
      const v16 gv = (v16)_mm512_set1_ps(g[kx * s.G]);
      for (int cb = 0; cb < CB; ++cb)
        a[kx][cb] += gv * (pv[cb] * Load(xrow + jx * C + c0 + cb * V));
    }
  }
  for (int64_t kx = 0; kx < K; ++kx)
    for (int cb = 0; cb < CB; ++cb) Store(acc + (ky * K + kx) * C + c0 + cb * V, a[kx][cb]);
}

template <int KT, int CB, int CT = 0>
inline void ChanKGradRow(const Geometry& s, const float* prow, const float* xrow,
                         const float* grow, int64_t ky, float* acc) {
  const int64_t P = s.D * s.R, lo = std::min(P, s.W), hi = std::max(lo, s.W - P);
  for (int64_t c0 = 0; c0 < s.C; c0 += CB * V) {
    ChanKGradRun<KT, CB, true, CT>(s, prow, xrow, grow, ky, c0, 0, lo, acc);
    ChanKGradRun<KT, CB, false, CT>(s, prow, xrow, grow, ky, c0, lo, hi, acc);
    ChanKGradRun<KT, CB, true, CT>(s, prow, xrow, grow, ky, c0, hi, s.W, acc);
  }
}

// Grad kernel of frame indices [begin, end) (t), summed over the batch.
inline bool ChanGradKernel(const Geometry& s, const float* x, const float* go, float* dw,
                           int64_t begin, int64_t end) {
  const int64_t nout = s.G * s.KK, xframe = s.H * s.W * s.C, gframe = s.H * s.W * nout;
  const int64_t KKC = s.KK * s.C;
  Scratch abuf(2, KKC);
  if (!abuf.ok()) return false;
  float* const acc = abuf.data();
  const bool two = s.g % (2 * V) == 0;
  for (int64_t t = begin; t < end; ++t) {
    std::fill(acc, acc + KKC, 0.f);
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t bt = b * s.L + t, bp = b * s.L + (t > 0 ? t - 1 : 0);
      for (int64_t i = 0; i < s.H; ++i) {
        const float* prow = x + bp * xframe + i * s.W * s.C;
        const float* grow = go + bt * gframe + i * s.W * nout;
        for (int64_t ky = 0; ky < s.K; ++ky) {
          const int64_t r = i + s.D * (ky - s.R);
          if (r < 0 || r >= s.H) continue;
          const float* xrow = x + bt * xframe + r * s.W * s.C;
          if (s.K == 7 && two && s.C == 64)  // compile-time strides (see ChanIGradTile)
            ChanKGradRow<7, 2, 64>(s, prow, xrow, grow, ky, acc);
          else if (s.K == 7 && two && s.C == 128)
            ChanKGradRow<7, 2, 128>(s, prow, xrow, grow, ky, acc);
          else if (s.K == 7 && two && s.C == 256)
            ChanKGradRow<7, 2, 256>(s, prow, xrow, grow, ky, acc);
          else if (s.K == 7 && two)
            ChanKGradRow<7, 2>(s, prow, xrow, grow, ky, acc);
          else if (s.K == 7)
            ChanKGradRow<7, 1>(s, prow, xrow, grow, ky, acc);
          else if (s.K == 3 && two)
            ChanKGradRow<3, 2>(s, prow, xrow, grow, ky, acc);
          else if (s.K == 5 && two)
            ChanKGradRow<5, 2>(s, prow, xrow, grow, ky, acc);
          else
            ChanKGradRow<0, 1>(s, prow, xrow, grow, ky, acc);
        }
      }
    }
    const float inv_g = 1.0f / s.g;
    for (int64_t e = 0; e < KKC; ++e) dw[t * KKC + e] = acc[e] * inv_g;
  }
  return true;
}
#endif  // __AVX512F__

// Forward: one work item = one output frame (b, t).
class CorrelationOp : public CorrelationBase {
 public:
  using CorrelationBase::CorrelationBase;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& xt = ctx->input(0);
    const Tensor& wt = ctx->input(1);
    Geometry s;
    Check(ctx, xt, wt, &s);
    if (!ctx->status().ok()) return;
    OP_REQUIRES(ctx, s.K <= 15, InvalidArgument("kernel_size must be <= 15"));
    Tensor* ot = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
        0, TensorShape({s.B, s.L, s.H, s.W, s.G * s.KK}), &ot));
    if (ot->NumElements() == 0) return;
#ifdef __AVX512F__
    if (DispGeo::Usable(s)) return ComputeDisp(ctx, s, xt, wt, ot);
#endif
    const Planes pl(s);
    const int64_t xframe = s.H * s.W * s.C, plane = s.C * pl.Wq, nout = s.G * s.KK;
    const float* x = xt.flat<float>().data();
    const float* w = wt.flat<float>().data();
    float* out = ot->flat<float>().data();
    std::atomic<bool> no_memory(false);
    Parallel(ctx, s.B * s.L, s.H * s.W * s.KK * s.C * 2, [&](int64_t begin, int64_t end) {
      // The current frame's rows i +- D*R, and the previous frame's row i.
      RowRing cur(std::min(s.H, 2 * s.D * s.R + 1), plane, 0), prev(1, plane, 4);
      Scratch acc_buf(2, nout * pl.Wp), row_buf(3, s.W * nout);
      if (!cur.ok() || !prev.ok() || !acc_buf.ok() || !row_buf.ok()) {
        no_memory = true;
        return;
      }
      float* const acc_rows = acc_buf.data();
      std::vector<float> wT(s.KK * s.C);
      for (int64_t bt = begin; bt < end; ++bt) {
        const int64_t t = bt % s.L, b = bt / s.L, tp = t > 0 ? t - 1 : 0;
        cur.Reset();
        prev.Reset();
        const float* xprev = x + (b * s.L + tp) * xframe;
        const float* xcur = x + bt * xframe;
        RelayoutWeights(s, w + t * s.KK * s.C, 1.0f / s.g, wT.data());
        for (int64_t i = 0; i < s.H; ++i) {
          const float* P = prev.Row(xprev, i, s.W, s.C, pl) + pl.pad;
          // Group-major: one group's P and Q channels (g rows each) stay in L1
          // across the K row displacements.
          for (int64_t gi = 0; gi < s.G; ++gi) {
            for (int64_t ky = 0; ky < s.K; ++ky) {
              const int64_t ii = i + s.D * (ky - s.R);
              float* rows_ky = acc_rows + (ky * s.K * s.G + gi) * pl.Wp;
              if (ii < 0 || ii >= s.H) {
                for (int64_t kx = 0; kx < s.K; ++kx)
                  std::fill(rows_ky + kx * s.G * pl.Wp, rows_ky + kx * s.G * pl.Wp + pl.Wp, 0.f);
                continue;
              }
              const float* Q = cur.Row(xcur, ii, s.W, s.C, pl) + pl.pad;
              DispatchKD(s.K, s.D, [&](auto kt, auto dt) {
                ForwardSpan<decltype(kt)::value, decltype(dt)::value>(
                    s, pl, P, Q, &wT[ky * s.C * s.K], gi, rows_ky);
              });
            }
          }
          // Transposed in L1, then streamed to the output row.
          Transpose(acc_rows, pl.Wp, nout, s.W, row_buf.data(), nout);
          StreamCopy(row_buf.data(), s.W * nout, out + (bt * s.H + i) * s.W * nout);
        }
      }
      StreamFence();
    });
    OP_REQUIRES(ctx, !no_memory, tensorflow::errors::ResourceExhausted(
        "Correlation: cannot allocate scratch memory"));
  }

 private:
#ifdef __AVX512F__
  // The displacement-vectorised path (see DispGeo).
  void ComputeDisp(OpKernelContext* ctx, const Geometry& s, const Tensor& xt,
                   const Tensor& wt, Tensor* ot) {
    const float* x = xt.flat<float>().data();
    const float* w = wt.flat<float>().data();
    float* out = ot->flat<float>().data();
    std::atomic<bool> no_memory(false);
    Parallel(ctx, s.B * s.L, s.H * s.W * s.KK * s.C * 2, [&](int64_t begin, int64_t end) {
      if (!DispForward(s, x, w, out, begin, end)) no_memory = true;
    });
    OP_REQUIRES(ctx, !no_memory, tensorflow::errors::ResourceExhausted(
        "Correlation: cannot allocate scratch memory"));
  }
#endif
};

// d/dx. x[t] enters as the "current" frame of step t and as the "previous"
// frame of step t+1 (and of step 0 when t == 0). One work item = one frame
// (b, t) of grad_x, gathering every contribution to it:
// (1) d[c][j] += w[t,k,c] * prev_t[io][c][j-dx] * go_t[io][k,g][j-dx], io = i - dy
// (2) d[c][j] += w[u,k,c] * go_u[i][k,g][j] * x_u[i+dy][c][j+dx], u = t+1 (and 0 if t == 0)
class CorrelationGradInputOp : public CorrelationBase {
 public:
  using CorrelationBase::CorrelationBase;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& xt = ctx->input(0);
    const Tensor& wt = ctx->input(1);
    const Tensor& gt = ctx->input(2);
    Geometry s;
    Check(ctx, xt, wt, &s);
    if (!ctx->status().ok()) return;
    const int64_t nout = s.G * s.KK;
    OP_REQUIRES(ctx, gt.NumElements() == s.B * s.L * s.H * s.W * nout,
                InvalidArgument("grad_out has the wrong size"));
    Tensor* dxt = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, xt.shape(), &dxt));
    if (dxt->NumElements() == 0) return;
#ifdef __AVX512F__
    if (ChanIGradUsable(s) || DispGeo::Usable(s)) {
      const float* x = xt.flat<float>().data();
      const float* go = gt.flat<float>().data();
      const float* w = wt.flat<float>().data();
      float* dx = dxt->flat<float>().data();
      const bool chan = ChanIGradUsable(s);
      std::atomic<bool> no_memory(false);
      Parallel(ctx, s.B * s.L, s.H * s.W * s.KK * s.C * 4, [&](int64_t begin, int64_t end) {
        if (!(chan ? ChanGradInput(s, x, w, go, dx, begin, end)
                   : DispGradInput(s, x, w, go, dx, begin, end)))
          no_memory = true;
      });
      OP_REQUIRES(ctx, !no_memory, tensorflow::errors::ResourceExhausted(
          "Correlation: cannot allocate scratch memory"));
      return;
    }
#endif
    const Planes pl(s);
    const int64_t xframe = s.H * s.W * s.C, gframe = s.H * s.W * nout;
    const int64_t xplane = s.C * pl.Wq, gplane = nout * pl.Wq;
    const float* x = xt.flat<float>().data();
    const float* go = gt.flat<float>().data();
    const float* w = wt.flat<float>().data();
    float* dx = dxt->flat<float>().data();
    Parallel(ctx, s.B * s.L, s.H * s.W * s.KK * s.C * 6, [&](int64_t begin, int64_t end) {
      FrameCache xframes(3, s.H * xplane, 0), gframes(3, s.H * gplane, 1);
      std::vector<float> dplane(s.C * pl.Wp), wT_t(s.KK * s.C), wT_u(2 * s.KK * s.C);
      for (int64_t bt = begin; bt < end; ++bt) {
        const int64_t t = bt % s.L, b = bt / s.L, tp = t > 0 ? t - 1 : 0;
        int64_t us[2], n_u = 0;
        if (t + 1 < s.L) us[n_u++] = t + 1;
        if (t == 0) us[n_u++] = 0;
        const float* xu[2];
        const float* gu[2];
        for (int64_t k = 0; k < n_u; ++k) {
          const int64_t key = b * s.L + us[k];
          xu[k] = xframes.Get(key, x + key * xframe, s.H, s.W, s.C, pl);
          gu[k] = gframes.Get(key, go + key * gframe, s.H, s.W, nout, pl);
          RelayoutWeights(s, w + us[k] * s.KK * s.C, 1.0f / s.g, &wT_u[k * s.KK * s.C]);
        }
        // At most two distinct frames per cache: these Gets keep the above.
        const float* prev = xframes.Get(b * s.L + tp, x + (b * s.L + tp) * xframe,
                                        s.H, s.W, s.C, pl);
        const float* g_t = gframes.Get(bt, go + bt * gframe, s.H, s.W, nout, pl);
        RelayoutWeights(s, w + t * s.KK * s.C, 1.0f / s.g, wT_t.data());
        for (int64_t i = 0; i < s.H; ++i) {
          std::fill(dplane.begin(), dplane.end(), 0.f);
          for (int64_t ky = 0; ky < s.K; ++ky) {
            const int64_t io = i - s.D * (ky - s.R);
            if (io < 0 || io >= s.H) continue;
            DispatchKD(s.K, s.D, [&](auto kt, auto dt) {
              InputGradCurrent<decltype(kt)::value, decltype(dt)::value>(
                  s, pl, prev + io * xplane + pl.pad,
                  g_t + io * gplane + pl.pad + ky * s.K * s.G * pl.Wq,
                  &wT_t[ky * s.C * s.K], dplane.data());
            });
          }
          for (int64_t k = 0; k < n_u; ++k) {
            for (int64_t ky = 0; ky < s.K; ++ky) {
              const int64_t ii = i + s.D * (ky - s.R);
              if (ii < 0 || ii >= s.H) continue;
              DispatchKD(s.K, s.D, [&](auto kt, auto dt) {
                InputGradPrevious<decltype(kt)::value, decltype(dt)::value>(
                    s, pl, xu[k] + ii * xplane + pl.pad,
                    gu[k] + i * gplane + pl.pad + ky * s.K * s.G * pl.Wq,
                    &wT_u[k * s.KK * s.C + ky * s.C * s.K], dplane.data());
              });
            }
          }
          Transpose(dplane.data(), pl.Wp, s.C, s.W, dx + (bt * s.H + i) * s.W * s.C, s.C);
        }
      }
    });
  }
};

// d/dkernel. One work item = one frame index t of grad_kernel, summed over
// the batch and all pixels: per (ky, c, kx) a 16-lane partial sum over
// pixels, reduced once at the end.
class CorrelationGradKernelOp : public CorrelationBase {
 public:
  using CorrelationBase::CorrelationBase;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& xt = ctx->input(0);
    const Tensor& wt = ctx->input(1);
    const Tensor& gt = ctx->input(2);
    Geometry s;
    Check(ctx, xt, wt, &s);
    if (!ctx->status().ok()) return;
    OP_REQUIRES(ctx, s.K <= 15, InvalidArgument("kernel_size must be <= 15"));
    const int64_t nout = s.G * s.KK;
    OP_REQUIRES(ctx, gt.NumElements() == s.B * s.L * s.H * s.W * nout,
                InvalidArgument("grad_out has the wrong size"));
    Tensor* dwt = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, wt.shape(), &dwt));
    float* dw = dwt->flat<float>().data();
    std::memset(dw, 0, sizeof(float) * dwt->NumElements());
    if (xt.NumElements() == 0) return;
#ifdef __AVX512F__
    if (ChanIGradUsable(s) || DispGeo::Usable(s)) {
      const float* x = xt.flat<float>().data();
      const float* go = gt.flat<float>().data();
      const bool chan = ChanIGradUsable(s);
      std::atomic<bool> no_memory(false);
      Parallel(ctx, s.L, s.B * s.H * s.W * s.KK * s.C * 2, [&](int64_t begin, int64_t end) {
        if (!(chan ? ChanGradKernel(s, x, go, dw, begin, end)
                   : DispGradKernel(s, x, go, dw, begin, end)))
          no_memory = true;
      });
      OP_REQUIRES(ctx, !no_memory, tensorflow::errors::ResourceExhausted(
          "Correlation: cannot allocate scratch memory"));
      return;
    }
#endif
    const Planes pl(s);
    const int64_t xframe = s.H * s.W * s.C, gframe = s.H * s.W * nout;
    const int64_t xplane = s.C * pl.Wq, gplane = nout * pl.Wq;
    const float* x = xt.flat<float>().data();
    const float* go = gt.flat<float>().data();
    const float inv_g = 1.0f / s.g;
    Parallel(ctx, s.L, s.B * s.H * s.W * s.KK * s.C * 3, [&](int64_t begin, int64_t end) {
      FrameCache xframes(2, s.H * xplane, 0), gframes(1, s.H * gplane, 1);
      std::vector<v16> acc(s.KK * s.C);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t tp = t > 0 ? t - 1 : 0;
        std::fill(acc.begin(), acc.end(), v16{});
        for (int64_t b = 0; b < s.B; ++b) {
          const int64_t bt = b * s.L + t, bp = b * s.L + tp;
          xframes.Get(bp, x + bp * xframe, s.H, s.W, s.C, pl);
          const float* cur = xframes.Get(bt, x + bt * xframe, s.H, s.W, s.C, pl);
          const float* prev = xframes.Get(bp, x + bp * xframe, s.H, s.W, s.C, pl);
          const float* g_t = gframes.Get(bt, go + bt * gframe, s.H, s.W, nout, pl);
          for (int64_t c = 0; c < s.C; ++c) {
            const int64_t gi = c / s.g;
            for (int64_t ky = 0; ky < s.K; ++ky) {
              for (int64_t i = 0; i < s.H; ++i) {
                const int64_t ii = i + s.D * (ky - s.R);
                if (ii < 0 || ii >= s.H) continue;
                DispatchKD(s.K, s.D, [&](auto kt, auto dt) {
                  KernelGradSpan<decltype(kt)::value, decltype(dt)::value>(
                      s, pl, prev + i * xplane + pl.pad + c * pl.Wq,
                      cur + ii * xplane + pl.pad + c * pl.Wq,
                      g_t + i * gplane + pl.pad + (ky * s.K * s.G + gi) * pl.Wq,
                      &acc[(ky * s.C + c) * s.K]);
                });
              }
            }
          }
        }
        for (int64_t ky = 0; ky < s.K; ++ky)
          for (int64_t c = 0; c < s.C; ++c)
            for (int64_t kx = 0; kx < s.K; ++kx) {
              const v16 a = acc[(ky * s.C + c) * s.K + kx];
              float sum = 0.f;
              for (int64_t l = 0; l < V; ++l) sum += a[l];
              dw[((t * s.K + ky) * s.K + kx) * s.C + c] = sum * inv_g;
            }
      }
    });
  }
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("ActionzooCorrelation").Device(DEVICE_CPU), CorrelationOp);
REGISTER_KERNEL_BUILDER(Name("ActionzooCorrelationGradInput").Device(DEVICE_CPU),
                        CorrelationGradInputOp);
REGISTER_KERNEL_BUILDER(Name("ActionzooCorrelationGradKernel").Device(DEVICE_CPU),
                        CorrelationGradKernelOp);
