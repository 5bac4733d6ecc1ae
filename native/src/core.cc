// Hand-written entry points: what is not an op. Creation from JS data, readback, tensor metadata,
// memory, autograd, grad mode, threads, seeds and generators, devices.
#include "glue.h"
#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <c10/util/Logging.h>
#include <cstring>

namespace sparkts {
namespace {

#define ENTRY(name) static Napi::Value name(const Napi::CallbackInfo& info)

// fromBuffer(typedArrayOrArrayBuffer, dtype, shape) -> handle (copies the bytes)
ENTRY(fromBuffer) {
  OpCall c(info, "fromBuffer");
  Napi::Value v = info[0];
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    auto ab = ta.ArrayBuffer();
    data = static_cast<const uint8_t*>(ab.Data()) + ta.ByteOffset();
    bytes = ta.ByteLength();
  } else if (v.IsArrayBuffer()) {
    auto ab = v.As<Napi::ArrayBuffer>();
    data = static_cast<const uint8_t*>(ab.Data());
    bytes = ab.ByteLength();
  } else {
    c.badArg(0, "data", "a TypedArray or ArrayBuffer");
  }
  at::ScalarType dt = c.scalarType(1, "dtype");
  std::vector<int64_t> shape = c.intList(2, "shape");
  return c.guard([&] {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt));
    if (t.nbytes() != bytes)
      throw std::invalid_argument("data has " + std::to_string(bytes) + " bytes but shape " + shapeString(t) + " of " +
                                  dtypeName(dt) + " needs " + std::to_string(t.nbytes()));
    if (bytes) std::memcpy(t.data_ptr(), data, bytes);
    return c.ret(t);
  });
}

// toBuffer(handle) -> ArrayBuffer with the tensor's bytes (contiguous, on the CPU)
ENTRY(toBuffer) {
  OpCall c(info, "toBuffer");
  at::Tensor t = c.tensor(0, "self");
  return c.guard([&]() -> Napi::Value {
    at::Tensor cpu = t.detach().to(at::kCPU).contiguous();
    auto ab = Napi::ArrayBuffer::New(c.env(), cpu.nbytes());
    if (cpu.nbytes()) std::memcpy(ab.Data(), cpu.data_ptr(), cpu.nbytes());
    return ab;
  });
}

ENTRY(item) {
  OpCall c(info, "item");
  at::Tensor t = c.tensor(0, "self");
  return c.guard([&]() -> Napi::Value {
    if (t.numel() != 1) throw std::invalid_argument("item() needs a tensor with one element, this one has " + std::to_string(t.numel()));
    at::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(c.env(), s.toBool());
    return Napi::Number::New(c.env(), s.toDouble());
  });
}

// meta(handle) -> [shape, dtype, device, requiresGrad]  (one crossing for the common metadata)
ENTRY(meta) {
  OpCall c(info, "meta");
  at::Tensor t = c.tensor(0, "self");
  auto env = c.env();
  auto shape = Napi::Array::New(env, t.dim());
  for (int64_t k = 0; k < t.dim(); k++) shape.Set(k, Napi::Number::New(env, static_cast<double>(t.size(k))));
  auto out = Napi::Array::New(env, 4);
  out.Set(0u, shape);
  out.Set(1u, Napi::String::New(env, dtypeName(t.scalar_type())));
  out.Set(2u, Napi::String::New(env, t.device().str()));
  out.Set(3u, Napi::Boolean::New(env, t.requires_grad()));
  return out;
}

ENTRY(strides) {
  OpCall c(info, "strides");
  at::Tensor t = c.tensor(0, "self");
  auto a = Napi::Array::New(c.env(), t.dim());
  for (int64_t k = 0; k < t.dim(); k++) a.Set(k, Napi::Number::New(c.env(), static_cast<double>(t.stride(k))));
  return a;
}

ENTRY(dispose) {
  disposeHandle(info[0]);
  return info.Env().Undefined();
}

ENTRY(isDisposed) {
  Handle* h = handleOf(info[0]);
  return Napi::Boolean::New(info.Env(), !h || !h->alive);
}

ENTRY(liveTensorCount) { return Napi::Number::New(info.Env(), static_cast<double>(gLiveTensors.load())); }

// externalMemory() -> [bytes sparkts reports to V8 now, V8's whole external-memory total]
// (process.memoryUsage() does not show napi_adjust_external_memory, so this is how to observe it)
ENTRY(externalMemory) {
  auto env = info.Env();
  auto out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(gReportedBytes.load())));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(env, 0))));
  return out;
}

// ---- autograd ----
ENTRY(setRequiresGrad) {
  OpCall c(info, "requiresGrad_");
  at::Tensor t = c.tensor(0, "self");
  bool on = c.boolean(1, "requiresGrad");
  // requires_grad_ (not set_requires_grad): like PyTorch, turning it off on a non-leaf is an error
  // rather than a silent no-op (its grad_fn keeps it requiring grad).
  return c.guard([&] { t.requires_grad_(on); return c.env().Undefined(); });
}

ENTRY(grad) {
  OpCall c(info, "grad");
  at::Tensor t = c.tensor(0, "self");
  return c.ret(t.grad());  // undefined grad -> null
}

ENTRY(setGrad) {
  OpCall c(info, "setGrad");
  at::Tensor t = c.tensor(0, "self");
  auto g = c.optTensor(1, "grad");
  return c.guard([&] {
    t.mutable_grad() = g.has_value() ? *g : at::Tensor();
    return c.env().Undefined();
  });
}

// setData(param, value): swap the storage under a tensor while keeping its identity (Module.to()).
ENTRY(setData) {
  OpCall c(info, "setData");
  at::Tensor t = c.tensor(0, "self");
  at::Tensor v = c.tensor(1, "value");
  return c.guard([&] { t.set_data(v); return c.env().Undefined(); });
}

ENTRY(isLeaf) {
  OpCall c(info, "isLeaf");
  return Napi::Boolean::New(c.env(), c.tensor(0, "self").is_leaf());
}

ENTRY(retainGrad) {
  OpCall c(info, "retainGrad");
  at::Tensor t = c.tensor(0, "self");
  return c.guard([&] { t.retain_grad(); return c.env().Undefined(); });
}

// backward(tensors[], grads[]|null, retainGraph, createGraph)
ENTRY(backward) {
  OpCall c(info, "backward");
  auto tensors = c.tensorList(0, "tensors");
  std::vector<at::Tensor> grads;
  if (!info[1].IsNull() && !info[1].IsUndefined()) grads = c.tensorList(1, "gradients");
  bool retain = c.boolean(2, "retainGraph");
  bool create = c.boolean(3, "createGraph");
  return c.guard([&] {
    torch::autograd::backward(tensors, grads, retain, create);
    return c.env().Undefined();
  });
}

ENTRY(setGradEnabled) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(info.Env(), prev);
}

ENTRY(isGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

// ---- threads, seeds, generators, devices ----
ENTRY(setNumThreads) {
  OpCall c(info, "setNumThreads");
  int64_t n = c.int64(0, "n");
  if (n < 1) c.badArg(0, "n", "a positive integer");
  at::set_num_threads(static_cast<int>(n));
  return c.env().Undefined();
}

ENTRY(getNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

ENTRY(manualSeed) {
  OpCall c(info, "manualSeed");
  uint64_t seed = static_cast<uint64_t>(c.int64(0, "seed"));
  at::manual_seed(seed);
  return c.env().Undefined();
}

ENTRY(newGenerator) {
  OpCall c(info, "Generator");
  uint64_t seed = static_cast<uint64_t>(c.int64(0, "seed"));
  return wrapGenerator(c.env(), at::make_generator<at::CPUGeneratorImpl>(seed));
}

ENTRY(defaultGenerator) {
  return wrapGenerator(info.Env(), at::detail::getDefaultCPUGenerator());
}

// generatorState(gen) -> uint8 tensor; setGeneratorState(gen, tensor): for exact resume
ENTRY(generatorState) {
  OpCall c(info, "generatorState");
  at::Generator& g = generatorOf(info[0]);
  return c.guard([&] {
    std::lock_guard<std::mutex> lock(g.mutex());
    return c.ret(g.get_state());
  });
}

ENTRY(setGeneratorState) {
  OpCall c(info, "setGeneratorState");
  at::Generator& g = generatorOf(info[0]);
  at::Tensor s = c.tensor(1, "state");
  return c.guard([&] {
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(s);
    return c.env().Undefined();
  });
}

ENTRY(cudaIsAvailable) { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); }
ENTRY(cudaDeviceCount) { return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count())); }
ENTRY(cudaSynchronize) {
  OpCall c(info, "cuda.synchronize");
  return c.guard([&] { if (torch::cuda::is_available()) torch::cuda::synchronize(); return c.env().Undefined(); });
}

// TF32 matmuls/convolutions on Ampere+ GPUs trade ~10 mantissa bits for speed; PyTorch enables it
// for cuDNN convolutions by default. Reproducing float32 reference numbers needs it off.
ENTRY(setAllowTF32) {
  bool on = info[0].As<Napi::Boolean>().Value();
  at::globalContext().setAllowTF32CuDNN(on);
  at::globalContext().setAllowTF32CuBLAS(on);
  return info.Env().Undefined();
}

ENTRY(buildInfo) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("parallelInfo", at::get_parallel_info());
  o.Set("cuda", torch::cuda::is_available());
  return o;
}

}  // namespace

// native/src/cpu_allocator.cc
void installCpuAllocator();
Napi::Value cpuAllocatorStats(const Napi::CallbackInfo& info);
Napi::Value cpuAllocatorEmptyCache(const Napi::CallbackInfo& info);
// native/src/profiler.cc
Napi::Value profilerStart(const Napi::CallbackInfo& info);
Napi::Value profilerStop(const Napi::CallbackInfo& info);
Napi::Value profilerRangeStart(const Napi::CallbackInfo& info);
Napi::Value profilerRangeEnd(const Napi::CallbackInfo& info);

void registerCore(Napi::Env env, Napi::Object e) {
#define REG(name) e.Set(#name, Napi::Function::New(env, name, #name))
  REG(fromBuffer); REG(toBuffer); REG(item); REG(meta); REG(strides); REG(dispose); REG(isDisposed);
  REG(liveTensorCount); REG(externalMemory); REG(setRequiresGrad); REG(grad); REG(setGrad); REG(setData); REG(isLeaf); REG(retainGrad);
  REG(backward); REG(setGradEnabled); REG(isGradEnabled); REG(setNumThreads); REG(getNumThreads);
  REG(manualSeed); REG(newGenerator); REG(defaultGenerator); REG(generatorState); REG(setGeneratorState);
  REG(cudaIsAvailable); REG(cudaDeviceCount); REG(cudaSynchronize); REG(setAllowTF32); REG(buildInfo);
  REG(cpuAllocatorStats); REG(cpuAllocatorEmptyCache);
  REG(profilerStart); REG(profilerStop); REG(profilerRangeStart); REG(profilerRangeEnd);
#undef REG
}

}  // namespace sparkts

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // c10::Error symbolises a C++ backtrace on construction (~20 ms each); our messages keep only the
  // first line of what_without_backtrace(), so skip that work and make a failed op cheap.
  c10::SetStackTraceFetcher([] { return std::string(); });
  sparkts::installCpuAllocator();  // before the first tensor: see cpu_allocator.cc
  sparkts::registerCore(env, exports);
  sparkts::registerDist(env, exports);
  auto ops = Napi::Object::New(env);
  sparkts::registerGeneratedOps(env, ops);
  exports.Set("ops", ops);
  return exports;
}

NODE_API_MODULE(sparkts, Init)
