// Fused multi-step neuron kernels: the generic half, written once for every neuron declaration.
//
// One thread owns one neuron element and walks all T steps with its NS states in registers; tensors are
// time-major [T, N] and contiguous.  The neuron math comes from a generated struct M (snnlab/kernels/codegen.py):
//   NS, NP, V                    states, parameters, index of the membrane v among the states
//   float step(x, st, p, c)      one step: charged values c, states st updated in place, returns the spike
//   void restate(c, p, st)       the states after a step from its charged values (rebuilds the forward's)
//   void backward(x, st, c, p, gs, g, g_x, g_p)
//                                one step back: g holds dL/d(states after) in and dL/d(states before) out
// The generated entry points (extern "C") gather the per-state pointers and the parameter values (p) and call
// forward / backward below.  I/O is float, __half or __nv_bfloat16; all math is fp32, and the charged values
// are saved in fp32, so the backward pass rebuilds exactly the forward's states and spikes.
#ifndef SNNLAB_MULTISTEP_CUH
#define SNNLAB_MULTISTEP_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define SNNLAB_BLOCK 256

namespace snnlab {

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename IO> __device__ __forceinline__ IO from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Steps 0..T-1 of neuron i.  c_seq ([NS, T, N], fp32) and v_seq are written only when non-null.
template <class M, typename IO>
__device__ __forceinline__ void forward(long long i, const IO* __restrict__ x_seq, const IO* const* init,
                                        const float* p, IO* __restrict__ s_seq, float* __restrict__ c_seq,
                                        IO* __restrict__ v_seq, IO* const* last, long long T, long long N) {
  const long long TN = T * N;
  float st[M::NS], c[M::NS];
#pragma unroll
  for (int k = 0; k < M::NS; ++k) st[k] = to_f32(init[k][i]);
  for (long long idx = i; idx < TN; idx += N) {
    s_seq[idx] = from_f32<IO>(M::step(to_f32(x_seq[idx]), st, p, c));
    if (c_seq != nullptr) {
#pragma unroll
      for (int k = 0; k < M::NS; ++k) c_seq[k * TN + idx] = c[k];
    }
    if (v_seq != nullptr) v_seq[idx] = from_f32<IO>(st[M::V]);
  }
#pragma unroll
  for (int k = 0; k < M::NS; ++k) last[k][i] = from_f32<IO>(st[k]);
}

// Backpropagation through time of neuron i, t = T-1 .. 0.  The states before step t are rebuilt from the
// charged values of step t-1 (or the initial states); x_seq is passed (non-null) only when the gradients read
// it.  grad_s_seq, grad_v_seq and grad_last[k] may be null (no gradient); grad_p[q], when non-null, receives
// the neuron's dL/dp_q summed over time.
template <class M, typename IO>
__device__ __forceinline__ void backward(long long i, const IO* __restrict__ grad_s_seq,
                                         const IO* __restrict__ grad_v_seq, const IO* const* grad_last,
                                         const float* __restrict__ c_seq, const IO* __restrict__ x_seq,
                                         const IO* const* init, const float* p, IO* __restrict__ grad_x_seq,
                                         IO* const* grad_init, float* const* grad_p, long long T, long long N) {
  const long long TN = T * N;
  constexpr int NP = M::NP > 0 ? M::NP : 1;  // C++ has no empty arrays
  float g[M::NS], c[M::NS], c_prev[M::NS] = {}, st[M::NS], gp[NP] = {}, gp_sum[NP] = {};
#pragma unroll
  for (int k = 0; k < M::NS; ++k) {
    g[k] = grad_last[k] != nullptr ? to_f32(grad_last[k][i]) : 0.0f;
    c[k] = c_seq[k * TN + TN - N + i];
  }
  for (long long idx = TN - N + i; idx >= 0; idx -= N) {
    if (grad_v_seq != nullptr) g[M::V] += to_f32(grad_v_seq[idx]);
    if (idx >= N) {
#pragma unroll
      for (int k = 0; k < M::NS; ++k) c_prev[k] = c_seq[k * TN + idx - N];
      M::restate(c_prev, p, st);
    } else {
#pragma unroll
      for (int k = 0; k < M::NS; ++k) st[k] = to_f32(init[k][i]);
    }
    const float x = x_seq != nullptr ? to_f32(x_seq[idx]) : 0.0f;
    const float gs = grad_s_seq != nullptr ? to_f32(grad_s_seq[idx]) : 0.0f;
    float g_x;
    M::backward(x, st, c, p, gs, g, g_x, gp);
    grad_x_seq[idx] = from_f32<IO>(g_x);
#pragma unroll
    for (int q = 0; q < M::NP; ++q) gp_sum[q] += gp[q];
#pragma unroll
    for (int k = 0; k < M::NS; ++k) c[k] = c_prev[k];
  }
#pragma unroll
  for (int k = 0; k < M::NS; ++k) grad_init[k][i] = from_f32<IO>(g[k]);
#pragma unroll
  for (int q = 0; q < M::NP; ++q) {
    if (grad_p[q] != nullptr) grad_p[q][i] = gp_sum[q];
  }
}

}  // namespace snnlab

#endif  // SNNLAB_MULTISTEP_CUH
