#include "glue.h"
#include <ATen/ScalarOps.h>
#include <sstream>

namespace sparkts {

std::atomic<int64_t> gLiveTensors{0};
std::atomic<int64_t> gReportedBytes{0};

static int64_t storageBytesToReport(const at::Tensor& t) {
  // Report a storage to V8 once, by the handle that sees it first alone: views share storage and
  // would otherwise be counted many times. This is a GC-pressure hint, not an accounting ledger.
  if (!t.defined() || !t.has_storage()) return 0;
  const auto& st = t.storage();
  if (st.use_count() > 1) return 0;
  return static_cast<int64_t>(st.nbytes());
}

// A handle is a plain JS object with the Handle attached by napi_wrap. dispose() detaches it again
// (napi_remove_wrap) and frees it at once. Why not a Napi::External with a finalizer: Node runs N-API
// finalizers from a setImmediate, so in a synchronous loop every collected handle's finalizer record
// (and its Handle) piles up until the event loop turns: ~220 bytes per tensor ever created. A removed
// wrap leaves nothing behind; the finalizer remains only as the safety net for handles never disposed.
static const napi_type_tag kDisposedTag = {0x737061726b74735fULL, 0x646973706f736564ULL};  // "sparkts_disposed"

static void finalizeHandle(napi_env env, void* data, void* /*hint*/) {
  auto* h = static_cast<Handle*>(data);
  releaseHandle(Napi::Env(env), h);
  delete h;
}

Napi::Value wrapTensor(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* h = new Handle();
  h->tensor = std::move(t);
  h->reportedBytes = h->tensor.device().is_cpu() ? storageBytesToReport(h->tensor) : 0;
  if (h->reportedBytes) { Napi::MemoryManagement::AdjustExternalMemory(env, h->reportedBytes); gReportedBytes += h->reportedBytes; }
  gLiveTensors++;
  napi_value obj;
  napi_status s = napi_create_object(env, &obj);
  if (s == napi_ok) s = napi_wrap(env, obj, h, finalizeHandle, nullptr, nullptr);
  if (s != napi_ok) {
    releaseHandle(env, h);
    delete h;
    NAPI_THROW_IF_FAILED(env, s, Napi::Value());
  }
  return Napi::Value(env, obj);
}

void releaseHandle(Napi::Env env, Handle* h) {
  if (!h->alive) return;
  h->alive = false;
  h->tensor.reset();
  if (h->reportedBytes) { Napi::MemoryManagement::AdjustExternalMemory(env, -h->reportedBytes); gReportedBytes -= h->reportedBytes; }
  h->reportedBytes = 0;
  gLiveTensors--;
}

void disposeHandle(const Napi::Value& v) {
  void* data = nullptr;
  if (!v.IsObject() || napi_remove_wrap(v.Env(), v, &data) != napi_ok) return;  // not a handle, or disposed already
  auto* h = static_cast<Handle*>(data);
  releaseHandle(v.Env(), h);
  delete h;
  napi_type_tag_object(v.Env(), v, &kDisposedTag);  // so later use says "disposed", not "not a Tensor"
}

Handle* handleOf(const Napi::Value& v) {
  static Handle disposed = [] { Handle d; d.alive = false; return d; }();
  if (!v.IsObject()) return nullptr;
  void* data = nullptr;
  if (napi_unwrap(v.Env(), v, &data) == napi_ok) return static_cast<Handle*>(data);
  bool wasHandle = false;
  if (napi_check_object_type_tag(v.Env(), v, &kDisposedTag, &wasHandle) == napi_ok && wasHandle) return &disposed;
  return nullptr;
}

at::ScalarType parseDtype(const std::string& s) {
  if (s == "float32") return at::kFloat;
  if (s == "float64") return at::kDouble;
  if (s == "float16") return at::kHalf;
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "int64") return at::kLong;
  if (s == "int32") return at::kInt;
  if (s == "int16") return at::kShort;
  if (s == "int8") return at::kChar;
  if (s == "uint8") return at::kByte;
  if (s == "bool") return at::kBool;
  throw std::invalid_argument("unknown dtype '" + s + "' (use float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8 or bool)");
}

const char* dtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return "unsupported";
  }
}

at::MemoryFormat parseMemoryFormat(const std::string& s) {
  if (s == "contiguous") return at::MemoryFormat::Contiguous;
  if (s == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (s == "preserve") return at::MemoryFormat::Preserve;
  throw std::invalid_argument("unknown memory format '" + s + "' (use contiguous, channels_last or preserve)");
}

std::string shapeString(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::ostringstream o;
  o << "[";
  auto s = t.sizes();
  for (size_t i = 0; i < s.size(); i++) o << (i ? "," : "") << s[i];
  o << "]";
  return o.str();
}

struct GeneratorBox { at::Generator gen; };

Napi::Value wrapGenerator(Napi::Env env, at::Generator g) {
  return Napi::External<GeneratorBox>::New(env, new GeneratorBox{std::move(g)}, [](Napi::Env, GeneratorBox* b) { delete b; });
}

at::Generator& generatorOf(const Napi::Value& v) {
  return v.As<Napi::External<GeneratorBox>>().Data()->gen;
}

std::string OpCall::describe(const std::string& msg) const {
  // libtorch messages can span lines (and carry C++ frames); the first line is the useful one.
  std::string first = msg.substr(0, msg.find('\n'));
  std::ostringstream o;
  o << op_ << "(";
  for (size_t i = 0; i < shapes_.size(); i++) o << (i ? ", " : "") << shapes_[i].first << ": " << shapes_[i].second;
  o << "): " << first;
  return o.str();
}

void OpCall::badArg(size_t i, const char* name, const char* expected) const {
  std::ostringstream o;
  o << op_ << ": argument " << i << " '" << name << "' must be " << expected;
  throw Napi::TypeError::New(env_, o.str());
}

at::Tensor OpCall::tensor(size_t i, const char* name) {
  Handle* h = handleOf(info_[i]);
  if (!h) badArg(i, name, "a Tensor");
  if (!h->alive) badArg(i, name, "a live Tensor (this one was disposed)");
  note(name, h->tensor);
  return h->tensor;
}

c10::optional<at::Tensor> OpCall::optTensor(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  return tensor(i, name);
}

std::vector<at::Tensor> OpCall::tensorList(size_t i, const char* name) {
  if (!info_[i].IsArray()) badArg(i, name, "an array of Tensors");
  auto a = info_[i].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) {
    Handle* h = handleOf(a.Get(k));
    if (!h || !h->alive) badArg(i, name, "an array of live Tensors");
    out.push_back(h->tensor);
  }
  // every member's shape goes into error messages: a cat/stack mismatch is between two of them
  std::string shapes = "[";
  for (size_t k = 0; k < out.size() && k < 8; k++) shapes += (k ? ", " : "") + shapeString(out[k]);
  if (out.size() > 8) shapes += ", … (" + std::to_string(out.size()) + " tensors)";
  shapes_.emplace_back(name, shapes + "]");
  return out;
}

c10::List<c10::optional<at::Tensor>> OpCall::optTensorList(size_t i, const char* name) {
  if (!info_[i].IsArray()) badArg(i, name, "an array of Tensors or nulls");
  auto a = info_[i].As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (v.IsNull() || v.IsUndefined()) { out.push_back(c10::nullopt); continue; }
    Handle* h = handleOf(v);
    if (!h || !h->alive) badArg(i, name, "an array of live Tensors or nulls");
    out.push_back(h->tensor);
  }
  return out;
}

at::Tensor OpCall::tensorOrScalar(size_t i, const char* name) {
  if (info_[i].IsNumber() || info_[i].IsBoolean()) {
    // Exactly what Python does with a scalar operand: a 0-dim "wrapped number" tensor, which
    // takes part in type promotion as a Python scalar (int64/double/bool) would.
    at::Tensor t = at::scalar_to_tensor(scalar(i, name));
    t.unsafeGetTensorImpl()->set_wrapped_number(true);
    return t;
  }
  if (!handleOf(info_[i])) badArg(i, name, "a Tensor or a number");
  return tensor(i, name);
}

int64_t OpCall::int64(size_t i, const char* name) {
  if (!info_[i].IsNumber()) badArg(i, name, "an integer");
  double d = info_[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) badArg(i, name, "an integer");
  return static_cast<int64_t>(d);
}

c10::optional<int64_t> OpCall::optInt64(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  return int64(i, name);
}

std::vector<int64_t> OpCall::intList(size_t i, const char* name, size_t repeat) {
  if (repeat && info_[i].IsNumber()) return std::vector<int64_t>(repeat, int64(i, name));
  if (!info_[i].IsArray()) badArg(i, name, repeat ? "an integer or an array of integers" : "an array of integers");
  auto a = info_[i].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); k++) {
    Napi::Value v = a.Get(k);
    if (!v.IsNumber()) badArg(i, name, "an array of integers");
    double d = v.As<Napi::Number>().DoubleValue();
    // a fractional size must not be truncated silently (reshape([2.5, 2]) would become [2, 2])
    if (d != static_cast<double>(static_cast<int64_t>(d))) badArg(i, name, "an array of integers");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

c10::optional<std::vector<int64_t>> OpCall::optIntList(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  if (info_[i].IsNumber()) return std::vector<int64_t>{int64(i, name)};
  return intList(i, name);
}

double OpCall::float64(size_t i, const char* name) {
  if (!info_[i].IsNumber()) badArg(i, name, "a number");
  return info_[i].As<Napi::Number>().DoubleValue();
}

c10::optional<double> OpCall::optFloat64(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  return float64(i, name);
}

at::Scalar OpCall::scalar(size_t i, const char* name) {
  if (info_[i].IsBoolean()) return at::Scalar(info_[i].As<Napi::Boolean>().Value());
  if (!info_[i].IsNumber()) badArg(i, name, "a number");
  double d = info_[i].As<Napi::Number>().DoubleValue();
  // JS has one number type; integral values become integer scalars as they would in Python.
  if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 9007199254740992.0)
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

c10::optional<at::Scalar> OpCall::optScalar(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  return scalar(i, name);
}

bool OpCall::boolean(size_t i, const char* name) {
  if (!info_[i].IsBoolean()) badArg(i, name, "a boolean");
  return info_[i].As<Napi::Boolean>().Value();
}

std::string OpCall::str(size_t i, const char* name) {
  if (!info_[i].IsString()) badArg(i, name, "a string");
  return info_[i].As<Napi::String>().Utf8Value();
}

c10::optional<std::string> OpCall::optStr(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  return str(i, name);
}

at::ScalarType OpCall::scalarType(size_t i, const char* name) {
  try { return parseDtype(str(i, name)); } catch (const std::invalid_argument& e) { throw Napi::TypeError::New(env_, std::string(op_) + ": " + e.what()); }
}

c10::optional<at::ScalarType> OpCall::optScalarType(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  return scalarType(i, name);
}

at::MemoryFormat OpCall::memoryFormat(size_t i, const char* name) {
  try { return parseMemoryFormat(str(i, name)); } catch (const std::invalid_argument& e) { throw Napi::TypeError::New(env_, std::string(op_) + ": " + e.what()); }
}

c10::optional<at::Generator> OpCall::optGenerator(size_t i, const char* name) {
  if (info_[i].IsNull() || info_[i].IsUndefined()) return c10::nullopt;
  if (!info_[i].IsExternal()) badArg(i, name, "a Generator");
  return generatorOf(info_[i]);
}

at::TensorOptions OpCall::options(size_t i, const char* name) {
  at::TensorOptions o;
  if (info_[i].IsNull() || info_[i].IsUndefined()) return o.dtype(at::kFloat);
  if (!info_[i].IsObject()) badArg(i, name, "an options object {dtype, device}");
  auto obj = info_[i].As<Napi::Object>();
  // JS cannot tell 1 from 1.0, so factories default to float32 rather than inferring int64.
  o = o.dtype(at::kFloat);
  Napi::Value dt = obj.Get("dtype");
  if (dt.IsString()) {
    try { o = o.dtype(parseDtype(dt.As<Napi::String>().Utf8Value())); } catch (const std::invalid_argument& e) { throw Napi::TypeError::New(env_, std::string(op_) + ": " + e.what()); }
  }
  Napi::Value dev = obj.Get("device");
  if (dev.IsString()) {
    try { o = o.device(c10::Device(dev.As<Napi::String>().Utf8Value())); } catch (const c10::Error& e) {
      throw Napi::TypeError::New(env_, std::string(op_) + ": invalid device '" + dev.As<Napi::String>().Utf8Value() + "' (use cpu or cuda[:n])");
    }
    // Without this, a CPU-only libtorch answers with a page-long dispatcher message.
    if (o.device().is_cuda() && !at::hasCUDA())
      throw Napi::Error::New(env_, std::string(op_) + ": device '" + dev.As<Napi::String>().Utf8Value() +
                                       "' is not available: this libtorch has no CUDA support or no GPU is visible (use cpu)");
  }
  return o;
}

Napi::Value OpCall::ret(const std::vector<at::Tensor>& ts) {
  auto a = Napi::Array::New(env_, ts.size());
  for (size_t k = 0; k < ts.size(); k++) a.Set(k, wrapTensor(env_, ts[k]));
  return a;
}

Napi::Value OpCall::ret(const std::tuple<at::Tensor, at::Tensor>& ts) {
  return ret(std::vector<at::Tensor>{std::get<0>(ts), std::get<1>(ts)});
}

Napi::Value OpCall::ret(const std::tuple<at::Tensor, at::Tensor, at::Tensor>& ts) {
  return ret(std::vector<at::Tensor>{std::get<0>(ts), std::get<1>(ts), std::get<2>(ts)});
}

}  // namespace sparkts
