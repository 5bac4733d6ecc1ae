// libtorch's own op profiler (the legacy CPU profiler behind torch.autograd.profiler), reachable from
// JS so that our step can be broken down by ATen op exactly as the reference's is with torch.profiler:
// same RecordFunction ranges, same op names.
//
// profilerStart() records every op dispatched on the calling thread (and tasks it launches);
// profilerStop() returns, per op name, the self time (its range minus the ranges nested in it), the
// total time and the number of calls. An op nested anywhere inside a user range named
// "Optimizer.step#..." (what PyTorch wraps every optimizer step in, and what our optimizers' step
// opens) is reported under "[optimizer] <name>", so the optimizer's share can be split off by name.
#include "glue.h"
#include <torch/csrc/autograd/profiler_legacy.h>
#include <map>
#include <string>
#include <vector>

namespace sparkts {

namespace prof = torch::autograd::profiler;

Napi::Value profilerStart(const Napi::CallbackInfo& info) {
  try {
    prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("profilerStart: ") + e.what());
  }
  return info.Env().Undefined();
}

Napi::Value profilerStop(const Napi::CallbackInfo& info) {
  prof::thread_event_lists lists;
  try {
    lists = prof::disableProfilerLegacy();
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), std::string("profilerStop: ") + e.what());
  }
  struct Agg { double selfUs = 0, totalUs = 0; int64_t calls = 0; };
  struct Open { const prof::LegacyEvent* push; double childUs; bool inOptimizer; };
  std::map<std::string, Agg> agg;
  for (const auto& list : lists) {
    std::vector<Open> stack;
    for (const auto& e : list) {
      if (e.kind() == prof::EventKind::PushRange) {
        const bool opt = (!stack.empty() && stack.back().inOptimizer) || std::string(e.name()).rfind("Optimizer.step#", 0) == 0;
        stack.push_back({&e, 0.0, opt});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const Open o = stack.back();
        stack.pop_back();
        const double total = o.push->cpuElapsedUs(e);
        const bool underOptimizer = !stack.empty() && stack.back().inOptimizer;
        auto& a = agg[(underOptimizer ? "[optimizer] " : "") + std::string(o.push->name())];
        a.totalUs += total;
        a.selfUs += total - o.childUs;
        a.calls++;
        if (!stack.empty()) stack.back().childUs += total;
      }
    }
  }
  auto env = info.Env();
  auto out = Napi::Array::New(env, agg.size());
  uint32_t i = 0;
  for (const auto& [name, a] : agg) {
    auto o = Napi::Object::New(env);
    o.Set("name", name);
    o.Set("selfUs", a.selfUs);
    o.Set("totalUs", a.totalUs);
    o.Set("calls", double(a.calls));
    out.Set(i++, o);
  }
  return out;
}

// A named user range (RecordScope::USER_SCOPE, as torch.autograd.profiler.record_function): the
// returned handle ends it. Costs a check of the active callbacks when no profiler runs.
Napi::Value profilerRangeStart(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>();
  auto* rf = new at::RecordFunction(at::RecordScope::USER_SCOPE);
  if (rf->isActive()) rf->before(name);
  return Napi::External<at::RecordFunction>::New(info.Env(), rf);
}

Napi::Value profilerRangeEnd(const Napi::CallbackInfo& info) {
  auto* rf = info[0].As<Napi::External<at::RecordFunction>>().Data();
  rf->end();
  delete rf;
  return info.Env().Undefined();
}

}  // namespace sparkts
