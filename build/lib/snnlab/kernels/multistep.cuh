// Fused multi-step neuron kernels: the generic half, written once for every neuron variant.
//
// One thread owns one neuron element and walks all T steps in registers; tensors are time-major
// [T, N] and contiguous.  The neuron math comes from a generated struct M (snnlab/kernels/codegen.py) with
// static device functions charge / fire / reset / backward.  I/O is float, __half or __nv_bfloat16; all math
// is fp32, and h is saved in fp32 so the backward pass recomputes exactly the forward's spikes.
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

// Sum `v` over the block (warp shuffles, then one warp over the per-warp sums) and add it to *out with
// one atomicAdd per block.  Every thread of the block must call it.
__device__ __forceinline__ void block_sum_atomic_add(float v, float* out) {
  __shared__ float warp_sums[SNNLAB_BLOCK / 32];
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < SNNLAB_BLOCK / 32 ? warp_sums[lane] : 0.0f;
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if (lane == 0) atomicAdd(out, v);
  }
}

// theta: *theta_ptr when given (a learnable parameter, read on the device), else theta_val.
// h_seq and v_seq are written only when non-null.
template <class M, typename IO>
__device__ __forceinline__ void forward(const IO* __restrict__ x_seq, const IO* __restrict__ v_init,
                                        const float* __restrict__ theta_ptr, float theta_val,
                                        IO* __restrict__ s_seq, float* __restrict__ h_seq,
                                        IO* __restrict__ v_seq, IO* __restrict__ v_last, long long T,
                                        long long N) {
  const long long i = static_cast<long long>(blockIdx.x) * SNNLAB_BLOCK + threadIdx.x;
  if (i >= N) return;
  const float theta = theta_ptr != nullptr ? *theta_ptr : theta_val;
  float v = to_f32(v_init[i]);
  for (long long k = i; k < T * N; k += N) {
    const float h = M::charge(v, to_f32(x_seq[k]), theta);
    const float s = M::fire(h);
    s_seq[k] = from_f32<IO>(s);
    if (h_seq != nullptr) h_seq[k] = h;
    v = M::reset(h, s);
    if (v_seq != nullptr) v_seq[k] = from_f32<IO>(v);
  }
  v_last[i] = from_f32<IO>(v);
}

// Backpropagation through time, t = T-1 .. 0.  v[t-1] is rebuilt from h[t-1] (or v_init), so the forward
// saves only h; x_seq is read only when the variant's gradients need it.  grad_v_seq / grad_v_last may be
// null (no gradient).  With THETA_GRAD, each thread sums its dL/dθ terms and the block adds them to
// *grad_theta (fp32, zeroed by the caller).
template <class M, typename IO, bool THETA_GRAD>
__device__ __forceinline__ void backward(const IO* __restrict__ grad_s_seq, const IO* __restrict__ grad_v_seq,
                                         const IO* __restrict__ grad_v_last, const float* __restrict__ h_seq,
                                         const IO* __restrict__ x_seq, const IO* __restrict__ v_init,
                                         const float* __restrict__ theta_ptr, float theta_val,
                                         IO* __restrict__ grad_x_seq, IO* __restrict__ grad_v_init,
                                         float* __restrict__ grad_theta, long long T, long long N) {
  constexpr bool LOAD_X = M::X_IN_GRADS || (THETA_GRAD && M::X_IN_THETA_GRAD);
  const long long i = static_cast<long long>(blockIdx.x) * SNNLAB_BLOCK + threadIdx.x;
  float theta_sum = 0.0f;
  if (i < N) {
    const float theta = theta_ptr != nullptr ? *theta_ptr : theta_val;
    float grad_v = grad_v_last != nullptr ? to_f32(grad_v_last[i]) : 0.0f;
    long long k = (T - 1) * N + i;
    float h = h_seq[k];
    for (; k >= 0; k -= N) {
      if (grad_v_seq != nullptr) grad_v += to_f32(grad_v_seq[k]);
      const bool first = k < N;
      const float h_prev = first ? 0.0f : h_seq[k - N];
      const float v_prev = first ? to_f32(v_init[i]) : M::reset(h_prev, M::fire(h_prev));
      const float x = LOAD_X ? to_f32(x_seq[k]) : 0.0f;
      float grad_x, grad_v_prev, grad_theta_t;
      M::backward(to_f32(grad_s_seq[k]), grad_v, h, v_prev, x, theta, grad_x, grad_v_prev, grad_theta_t);
      grad_x_seq[k] = from_f32<IO>(grad_x);
      if (THETA_GRAD) theta_sum += grad_theta_t;
      grad_v = grad_v_prev;
      h = h_prev;
    }
    grad_v_init[i] = from_f32<IO>(grad_v);
  }
  if (THETA_GRAD) block_sum_atomic_add(theta_sum, grad_theta);
}

}  // namespace snnlab

#define SNNLAB_DEFINE_KERNELS(M, IO, NAME)                                                                  \
  extern "C" __global__ void __launch_bounds__(SNNLAB_BLOCK)                                               \
      NAME##_fwd(const IO* x_seq, const IO* v_init, const float* theta_ptr, float theta_val, IO* s_seq,   \
                 float* h_seq, IO* v_seq, IO* v_last, long long T, long long N) {                        \
    snnlab::forward<M, IO>(x_seq, v_init, theta_ptr, theta_val, s_seq, h_seq, v_seq, v_last, T, N);       \
  }                                                                                                         \
  extern "C" __global__ void __launch_bounds__(SNNLAB_BLOCK)                                               \
      NAME##_bwd(const IO* grad_s_seq, const IO* grad_v_seq, const IO* grad_v_last, const float* h_seq,  \
                 const IO* x_seq, const IO* v_init, const float* theta_ptr, float theta_val,              \
                 IO* grad_x_seq, IO* grad_v_init, float* grad_theta, long long T, long long N) {          \
    snnlab::backward<M, IO, false>(grad_s_seq, grad_v_seq, grad_v_last, h_seq, x_seq, v_init, theta_ptr,  \
                                   theta_val, grad_x_seq, grad_v_init, grad_theta, T, N);                 \
  }

#define SNNLAB_DEFINE_THETA_KERNEL(M, IO, NAME)                                                             \
  extern "C" __global__ void __launch_bounds__(SNNLAB_BLOCK) NAME##_bwd_theta(                             \
      const IO* grad_s_seq, const IO* grad_v_seq, const IO* grad_v_last, const float* h_seq,             \
      const IO* x_seq, const IO* v_init, const float* theta_ptr, float theta_val, IO* grad_x_seq,        \
      IO* grad_v_init, float* grad_theta, long long T, long long N) {                                     \
    snnlab::backward<M, IO, true>(grad_s_seq, grad_v_seq, grad_v_last, h_seq, x_seq, v_init, theta_ptr,   \
                                  theta_val, grad_x_seq, grad_v_init, grad_theta, T, N);                  \
  }

#endif  // SNNLAB_MULTISTEP_CUH
