// Groupwise learnable correlation (Wang et al.) as TensorFlow CPU ops.
//
//   out[b,t,i,j,(ky*K+kx)*G+gi] = 1/g * sum_{c in gi} w[t,ky,kx,c] * prev[b,t,i,j,c]
//                                   * x[b,t,i+D*(ky-K/2),j+D*(kx-K/2),c]
//   prev[t] = x[t-1], prev[0] = x[0]; zero outside the frame.
//
// Layout is channels-last and contiguous: x (B,L,H,W,C), w (L,K,K,C),
// out (B,L,H,W,K*K*G). Every kernel computes all K*K displacements of one
// output row while the 2*K input rows it touches are in cache; the work is
// split over rows with TensorFlow's CPU thread pool, and each output element
// is written by exactly one work item (no atomics). float32 only.
#include <algorithm>
#include <cstring>
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

  void Parallel(OpKernelContext* ctx, int64_t n, int64_t cost,
                const std::function<void(int64_t, int64_t)>& fn) {
    ctx->device()->tensorflow_cpu_worker_threads()->workers->ParallelFor(n, cost, fn);
  }

  int k_, d_, g_;
};

// Forward: one work item = one output row (b, t, i).
class CorrelationOp : public CorrelationBase {
 public:
  using CorrelationBase::CorrelationBase;

  void Compute(OpKernelContext* ctx) override {
    const Tensor& xt = ctx->input(0);
    const Tensor& wt = ctx->input(1);
    Geometry s;
    Check(ctx, xt, wt, &s);
    if (!ctx->status().ok()) return;
    Tensor* ot = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(
        0, TensorShape({s.B, s.L, s.H, s.W, s.G * s.KK}), &ot));
    const float* x = xt.flat<float>().data();
    const float* w = wt.flat<float>().data();
    float* out = ot->flat<float>().data();
    const float inv_g = 1.0f / s.g;
    const int64_t rows = s.B * s.L * s.H;
    Parallel(ctx, rows, s.W * s.KK * s.C * 4, [&](int64_t begin, int64_t end) {
      std::vector<float> pw(s.C);
      for (int64_t row = begin; row < end; ++row) {
        const int64_t i = row % s.H, bt = row / s.H, t = bt % s.L, b = bt / s.L;
        const int64_t tp = t > 0 ? t - 1 : 0;
        const float* xcur = x + (b * s.L + t) * s.H * s.W * s.C;
        const float* prow = x + (((b * s.L + tp) * s.H + i) * s.W) * s.C;
        const float* wt_ = w + t * s.KK * s.C;
        float* orow = out + row * s.W * s.G * s.KK;
        std::memset(orow, 0, sizeof(float) * s.W * s.G * s.KK);
        for (int64_t ky = 0; ky < s.K; ++ky) {
          const int64_t ii = i + s.D * (ky - s.R);
          if (ii < 0 || ii >= s.H) continue;
          const float* qrow = xcur + ii * s.W * s.C;
          for (int64_t kx = 0; kx < s.K; ++kx) {
            const int64_t dx = s.D * (kx - s.R);
            const int64_t j0 = std::max<int64_t>(0, -dx);
            const int64_t j1 = std::min<int64_t>(s.W, s.W - dx);
            const int64_t kk = ky * s.K + kx;
            const float* wk = wt_ + kk * s.C;
            for (int64_t j = j0; j < j1; ++j) {
              const float* p = prow + j * s.C;
              const float* q = qrow + (j + dx) * s.C;
              float* o = orow + (j * s.KK + kk) * s.G;
              for (int64_t gi = 0; gi < s.G; ++gi) {
                const int64_t c0 = gi * s.g;
                float acc = 0.f;
#pragma omp simd reduction(+ : acc)
                for (int64_t c = c0; c < c0 + s.g; ++c) acc += wk[c] * p[c] * q[c];
                o[gi] = acc * inv_g;
              }
            }
          }
        }
      }
    });
  }
};

// d/dx. x[t] enters as the "current" frame of step t and as the "previous"
// frame of step t+1 (and of step 0 when t == 0). One work item = one row
// (b, t, i) of grad_x, gathering every contribution to it.
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
    OP_REQUIRES(ctx, gt.NumElements() == s.B * s.L * s.H * s.W * s.G * s.KK,
                InvalidArgument("grad_out has the wrong size"));
    Tensor* dxt = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, xt.shape(), &dxt));
    const float* x = xt.flat<float>().data();
    const float* w = wt.flat<float>().data();
    const float* go = gt.flat<float>().data();
    float* dx = dxt->flat<float>().data();
    const float inv_g = 1.0f / s.g;
    const int64_t frame = s.H * s.W * s.C, oframe = s.H * s.W * s.G * s.KK;
    const int64_t rows = s.B * s.L * s.H;
    Parallel(ctx, rows, s.W * s.KK * s.C * 6, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t i = row % s.H, bt = row / s.H, t = bt % s.L, b = bt / s.L;
        float* drow = dx + row * s.W * s.C;
        std::memset(drow, 0, sizeof(float) * s.W * s.C);
        // (1) x[t] as the current frame of step t: pixel (i, j) was read at
        // output pixel (i - dy, j - dx), multiplied by prev[t] there.
        {
          const int64_t tp = t > 0 ? t - 1 : 0;
          const float* pframe = x + (b * s.L + tp) * frame;
          const float* gframe = go + (b * s.L + t) * oframe;
          const float* wt_ = w + t * s.KK * s.C;
          for (int64_t ky = 0; ky < s.K; ++ky) {
            const int64_t io = i - s.D * (ky - s.R);
            if (io < 0 || io >= s.H) continue;
            for (int64_t kx = 0; kx < s.K; ++kx) {
              const int64_t dxo = s.D * (kx - s.R);
              const int64_t kk = ky * s.K + kx;
              const float* wk = wt_ + kk * s.C;
              const int64_t j0 = std::max<int64_t>(0, dxo);
              const int64_t j1 = std::min<int64_t>(s.W, s.W + dxo);
              for (int64_t j = j0; j < j1; ++j) {
                const int64_t jo = j - dxo;
                const float* p = pframe + (io * s.W + jo) * s.C;
                const float* gr = gframe + ((io * s.W + jo) * s.KK + kk) * s.G;
                float* d = drow + j * s.C;
                for (int64_t gi = 0; gi < s.G; ++gi) {
                  const float a = gr[gi] * inv_g;
                  const int64_t c0 = gi * s.g;
#pragma omp simd
                  for (int64_t c = c0; c < c0 + s.g; ++c) d[c] += a * wk[c] * p[c];
                }
              }
            }
          }
        }
        // (2) x[t] as the previous frame of step u (u = t + 1, and u = 0 if t == 0).
        for (int pass = 0; pass < 2; ++pass) {
          const int64_t u = pass == 0 ? t + 1 : 0;
          if (pass == 0 && u >= s.L) continue;
          if (pass == 1 && t != 0) continue;
          const float* qframe = x + (b * s.L + u) * frame;
          const float* grow = go + ((b * s.L + u) * s.H + i) * s.W * s.KK * s.G;
          const float* wt_ = w + u * s.KK * s.C;
          for (int64_t ky = 0; ky < s.K; ++ky) {
            const int64_t ii = i + s.D * (ky - s.R);
            if (ii < 0 || ii >= s.H) continue;
            for (int64_t kx = 0; kx < s.K; ++kx) {
              const int64_t dxx = s.D * (kx - s.R);
              const int64_t kk = ky * s.K + kx;
              const float* wk = wt_ + kk * s.C;
              const int64_t j0 = std::max<int64_t>(0, -dxx);
              const int64_t j1 = std::min<int64_t>(s.W, s.W - dxx);
              for (int64_t j = j0; j < j1; ++j) {
                const float* q = qframe + (ii * s.W + j + dxx) * s.C;
                const float* gr = grow + (j * s.KK + kk) * s.G;
                float* d = drow + j * s.C;
                for (int64_t gi = 0; gi < s.G; ++gi) {
                  const float a = gr[gi] * inv_g;
                  const int64_t c0 = gi * s.g;
#pragma omp simd
                  for (int64_t c = c0; c < c0 + s.g; ++c) d[c] += a * wk[c] * q[c];
                }
              }
            }
          }
        }
      }
    });
  }
};

// d/dkernel. One work item = one (t, ky) slice of grad_kernel, summed over
// the batch and all output pixels.
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
    OP_REQUIRES(ctx, gt.NumElements() == s.B * s.L * s.H * s.W * s.G * s.KK,
                InvalidArgument("grad_out has the wrong size"));
    Tensor* dwt = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, wt.shape(), &dwt));
    const float* x = xt.flat<float>().data();
    const float* go = gt.flat<float>().data();
    float* dw = dwt->flat<float>().data();
    const float inv_g = 1.0f / s.g;
    const int64_t frame = s.H * s.W * s.C, oframe = s.H * s.W * s.G * s.KK;
    Parallel(ctx, s.L * s.K, s.B * s.H * s.W * s.K * s.C * 3,
             [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / s.K, ky = item % s.K;
        const int64_t tp = t > 0 ? t - 1 : 0;
        float* dws = dw + (t * s.KK + ky * s.K) * s.C;  // K rows of C
        std::memset(dws, 0, sizeof(float) * s.K * s.C);
        for (int64_t b = 0; b < s.B; ++b) {
          const float* pframe = x + (b * s.L + tp) * frame;
          const float* qframe = x + (b * s.L + t) * frame;
          const float* gframe = go + (b * s.L + t) * oframe;
          for (int64_t i = 0; i < s.H; ++i) {
            const int64_t ii = i + s.D * (ky - s.R);
            if (ii < 0 || ii >= s.H) continue;
            for (int64_t kx = 0; kx < s.K; ++kx) {
              const int64_t dxx = s.D * (kx - s.R);
              const int64_t kk = ky * s.K + kx;
              float* dk = dws + kx * s.C;
              const int64_t j0 = std::max<int64_t>(0, -dxx);
              const int64_t j1 = std::min<int64_t>(s.W, s.W - dxx);
              for (int64_t j = j0; j < j1; ++j) {
                const float* p = pframe + (i * s.W + j) * s.C;
                const float* q = qframe + (ii * s.W + j + dxx) * s.C;
                const float* gr = gframe + ((i * s.W + j) * s.KK + kk) * s.G;
                for (int64_t gi = 0; gi < s.G; ++gi) {
                  const float a = gr[gi] * inv_g;
                  const int64_t c0 = gi * s.g;
#pragma omp simd
                  for (int64_t c = c0; c < c0 + s.g; ++c) dk[c] += a * p[c] * q[c];
                }
              }
            }
          }
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
