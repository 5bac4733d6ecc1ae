// Shared N-API <-> ATen glue: tensor handles, argument conversion, error translation.
// Every op entry point (generated or hand-written) goes through OpCall so that a C++ exception
// becomes one JS Error naming the op and the shapes of its tensor arguments.
#pragma once
#include <napi.h>
#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <atomic>
#include <string>
#include <vector>

namespace sparkts {

// One JS Tensor owns one Handle, i.e. one reference to an at::Tensor.
struct Handle {
  at::Tensor tensor;
  int64_t reportedBytes = 0;  // what we told V8 via AdjustExternalMemory
  bool alive = true;
};

extern std::atomic<int64_t> gLiveTensors;
extern std::atomic<int64_t> gReportedBytes;  // sum of Handle::reportedBytes over live handles

Napi::Value wrapTensor(Napi::Env env, at::Tensor t);
void releaseHandle(Napi::Env env, Handle* h);
Handle* handleOf(const Napi::Value& v);  // nullptr if v is not a handle; a dead Handle once disposed
void disposeHandle(const Napi::Value& v);  // release and free now; no-op when disposed already

at::ScalarType parseDtype(const std::string& s);
const char* dtypeName(at::ScalarType t);
at::MemoryFormat parseMemoryFormat(const std::string& s);
std::string shapeString(const at::Tensor& t);
at::Generator& generatorOf(const Napi::Value& v);
Napi::Value wrapGenerator(Napi::Env env, at::Generator g);

class OpCall {
 public:
  OpCall(const Napi::CallbackInfo& info, const char* op) : info_(info), env_(info.Env()), op_(op) {}
  Napi::Env env() const { return env_; }

  at::Tensor tensor(size_t i, const char* name);
  c10::optional<at::Tensor> optTensor(size_t i, const char* name);
  std::vector<at::Tensor> tensorList(size_t i, const char* name);
  c10::List<c10::optional<at::Tensor>> optTensorList(size_t i, const char* name);
  at::Tensor tensorOrScalar(size_t i, const char* name);
  int64_t int64(size_t i, const char* name);
  c10::optional<int64_t> optInt64(size_t i, const char* name);
  std::vector<int64_t> intList(size_t i, const char* name, size_t repeat = 0);
  c10::optional<std::vector<int64_t>> optIntList(size_t i, const char* name);
  double float64(size_t i, const char* name);
  c10::optional<double> optFloat64(size_t i, const char* name);
  at::Scalar scalar(size_t i, const char* name);
  c10::optional<at::Scalar> optScalar(size_t i, const char* name);
  bool boolean(size_t i, const char* name);
  std::string str(size_t i, const char* name);
  c10::optional<std::string> optStr(size_t i, const char* name);
  at::ScalarType scalarType(size_t i, const char* name);
  c10::optional<at::ScalarType> optScalarType(size_t i, const char* name);
  at::MemoryFormat memoryFormat(size_t i, const char* name);
  c10::optional<at::Generator> optGenerator(size_t i, const char* name);
  at::TensorOptions options(size_t i, const char* name);

  Napi::Value ret(const at::Tensor& t) { return wrapTensor(env_, t); }
  Napi::Value ret(const std::vector<at::Tensor>& ts);
  Napi::Value ret(const std::tuple<at::Tensor, at::Tensor>& ts);
  Napi::Value ret(const std::tuple<at::Tensor, at::Tensor, at::Tensor>& ts);
  Napi::Value ret(bool b) { return Napi::Boolean::New(env_, b); }
  Napi::Value ret(double d) { return Napi::Number::New(env_, d); }
  Napi::Value ret(int64_t d) { return Napi::Number::New(env_, static_cast<double>(d)); }

  // Runs fn, translating libtorch exceptions into a JS Error "op(arg: [shape], ...): message".
  template <typename F>
  Napi::Value guard(F&& fn) {
    try {
      return fn();
    } catch (const Napi::Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Napi::Error::New(env_, describe(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(env_, describe(e.what()));
    }
  }
  std::string describe(const std::string& msg) const;
  [[noreturn]] void badArg(size_t i, const char* name, const char* expected) const;

 private:
  const Napi::CallbackInfo& info_;
  Napi::Env env_;
  const char* op_;
  std::vector<std::pair<std::string, std::string>> shapes_;  // (arg name, shape) for messages
  void note(const char* name, const at::Tensor& t) { shapes_.emplace_back(name, shapeString(t)); }
};

void registerGeneratedOps(Napi::Env env, Napi::Object exports);
void registerCore(Napi::Env env, Napi::Object exports);
void registerDist(Napi::Env env, Napi::Object exports);  // native/src/dist.cc: c10d process groups
namespace custom {
at::Tensor masked_rows(const at::Tensor& x, const at::Tensor& mask);
at::Tensor rows_to_masked(const at::Tensor& rows, const at::Tensor& mask);
at::Tensor conv_transpose2d_onednn(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                   at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef output_padding, int64_t groups,
                                   at::IntArrayRef dilation);
double sum_of_squares(const std::vector<at::Tensor>& tensors);
int64_t lamb_step_(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads, const std::vector<at::Tensor>& exp_avgs,
                   const std::vector<at::Tensor>& exp_avg_sqs, double clip, double beta1, double beta2, double beta3, double bias_correction1,
                   double bias_correction2, double eps, double weight_decay, double lr, bool adapt, bool trust_clip);
}  // namespace custom

}  // namespace sparkts
