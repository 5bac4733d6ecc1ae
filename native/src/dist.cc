// libtorch's own distributed engine (c10d), for data-parallel training: a TCPStore rendezvous, a
// ProcessGroupGloo (CPU) or ProcessGroupNCCL (CUDA, when this libtorch has it), the collectives the
// dist layer needs (broadcast, bucketed allreduce, allgather, barrier), and SyncBatchNorm as a custom
// autograd Function whose forward and backward reduce through the group.
//
// Compiled with -DUSE_C10D_GLOO when the libtorch resolver finds gloo's headers (Debian: libgloo-dev;
// pytorch.org's libtorch ships them), -DUSE_C10D_NCCL when the libtorch has CUDA and NCCL's header.
// Without gloo the entry points exist and say so, so that the addon still builds and single-process
// training is unaffected.
#include "glue.h"
#include <torch/version.h>
#include <c10/util/Logging.h>
#include <chrono>
#include <map>
#include <mutex>

#ifdef USE_C10D_GLOO
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace sparkts {
namespace {

#define ENTRY(name) static Napi::Value name(const Napi::CallbackInfo& info)

ENTRY(distAvailable) {
  auto o = Napi::Object::New(info.Env());
#ifdef USE_C10D_GLOO
  o.Set("gloo", true);
#else
  o.Set("gloo", false);
#endif
#if defined(USE_C10D_GLOO) && defined(USE_C10D_NCCL)
  o.Set("nccl", true);
#else
  o.Set("nccl", false);
#endif
  return o;
}

#ifdef USE_C10D_GLOO

// libtorch 1.13's ProcessGroupGloo/NCCL derive from ProcessGroup; 2.x's from Backend. Both carry the
// collectives used here with the same signatures.
#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

// Groups live in a table keyed by id: the SyncBatchNorm Function saves the id (an IValue) and finds
// its group again in backward; JS holds the id inside an External that removes it when collected.
// Each group keeps its gradient buckets' flat buffers from step to step, as DDP's reducer does: fresh
// 100 MB buffers every step cost more in page faults than the allreduce itself.
struct GroupEntry {
  c10::intrusive_ptr<Group> pg;
  std::vector<at::Tensor> buckets;
  std::mutex bucketsMutex;
};
std::mutex gGroupsMutex;
std::map<int64_t, std::shared_ptr<GroupEntry>> gGroups;
int64_t gNextGroupId = 1;

struct GroupRef {
  int64_t id;
  ~GroupRef() { std::lock_guard<std::mutex> l(gGroupsMutex); gGroups.erase(id); }
};

std::shared_ptr<GroupEntry> entryById(int64_t id) {
  std::lock_guard<std::mutex> l(gGroupsMutex);
  auto it = gGroups.find(id);
  if (it == gGroups.end()) throw std::runtime_error("the process group was destroyed");
  return it->second;
}
c10::intrusive_ptr<Group> groupById(int64_t id) { return entryById(id)->pg; }

int64_t groupIdOf(OpCall& c, const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsExternal()) c.badArg(i, "group", "a ProcessGroup (from dist.newProcessGroup)");
  return info[i].As<Napi::External<GroupRef>>().Data()->id;
}

// c10d logs each failed bind/connect attempt of the rendezvous to stderr (glog); the failure itself
// comes back as an exception that the dist layer turns into one line, so those logs are held back.
struct QuietLogs {
#ifdef C10_USE_GLOG
  int saved = FLAGS_minloglevel;
  QuietLogs() { FLAGS_minloglevel = 3; }
  ~QuietLogs() { FLAGS_minloglevel = saved; }
#else
  int saved = FLAGS_caffe2_log_level;
  QuietLogs() { FLAGS_caffe2_log_level = 3; }
  ~QuietLogs() { FLAGS_caffe2_log_level = saved; }
#endif
};

void waitFor(const c10::intrusive_ptr<c10d::Work>& work) {
  work->wait();  // rethrows the collective's exception (peer gone, timeout)
}

// newProcessGroup(backend, masterAddr, masterPort, rank, worldSize, timeoutMs, ifname) -> group
// Rank 0 hosts the TCPStore; every rank connects to it and the group rendezvous through it. Blocks
// until all worldSize ranks have joined or timeoutMs passed.
ENTRY(newProcessGroup) {
  OpCall c(info, "newProcessGroup");
  std::string backend = c.str(0, "backend");
  std::string addr = c.str(1, "masterAddr");
  int64_t port = c.int64(2, "masterPort");
  int64_t rank = c.int64(3, "rank");
  int64_t world = c.int64(4, "worldSize");
  int64_t timeoutMs = c.int64(5, "timeoutMs");
  std::string ifname = c.str(6, "ifname");
  return c.guard([&]() -> Napi::Value {
    QuietLogs quiet;
    auto timeout = std::chrono::milliseconds(timeoutMs);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, so);
    c10::intrusive_ptr<Group> pg;
    if (backend == "gloo") {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // GLOO_SOCKET_IFNAME picks the interface (as in PyTorch); a loopback master means one machine.
      if (!ifname.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (addr == "localhost" || addr.rfind("127.", 0) == 0) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("sparkts/gloo", store);
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, static_cast<int>(rank), static_cast<int>(world), opts);
    } else if (backend == "nccl") {
#ifdef USE_C10D_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("sparkts/nccl", store);
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, static_cast<int>(rank), static_cast<int>(world), opts);
#else
      throw std::invalid_argument("this libtorch was built without NCCL; use the gloo backend");
#endif
    } else {
      throw std::invalid_argument("unknown backend '" + backend + "' (use gloo or nccl)");
    }
    int64_t id;
    {
      std::lock_guard<std::mutex> l(gGroupsMutex);
      id = gNextGroupId++;
      auto e = std::make_shared<GroupEntry>();
      e->pg = pg;
      gGroups[id] = e;
    }
    return Napi::External<GroupRef>::New(c.env(), new GroupRef{id}, [](Napi::Env, GroupRef* r) { delete r; });
  });
}

// destroyProcessGroup(group): drop the group now (its threads and sockets), not at GC.
ENTRY(destroyProcessGroup) {
  OpCall c(info, "destroyProcessGroup");
  int64_t id = groupIdOf(c, info, 0);
  std::shared_ptr<GroupEntry> e;
  {
    std::lock_guard<std::mutex> l(gGroupsMutex);
    auto it = gGroups.find(id);
    if (it == gGroups.end()) return c.env().Undefined();
    e = it->second;
    gGroups.erase(it);
  }
  return c.guard([&] { e.reset(); return c.env().Undefined(); });
}

ENTRY(barrier) {
  OpCall c(info, "barrier");
  auto pg = groupById(groupIdOf(c, info, 0));
  return c.guard([&] { waitFor(pg->barrier()); return c.env().Undefined(); });
}

// allgather(group, tensor) -> (world, ...tensor.shape)
ENTRY(allgather) {
  OpCall c(info, "allgather");
  int64_t id = groupIdOf(c, info, 0);
  at::Tensor t = c.tensor(1, "tensor");
  return c.guard([&] {
    auto pg = groupById(id);
    at::Tensor src = t.detach().contiguous();
    std::vector<int64_t> shape{pg->getSize()};
    for (auto s : src.sizes()) shape.push_back(s);
    at::Tensor out = at::empty(shape, src.options());
    std::vector<std::vector<at::Tensor>> outs(1);
    for (int64_t r = 0; r < pg->getSize(); r++) outs[0].push_back(out[r]);
    std::vector<at::Tensor> ins{src};
    waitFor(pg->allgather(outs, ins));
    return c.ret(out);
  });
}

// The tensors in buckets of at most capBytes (one dtype per bucket), in order: DDP's coalescing, so
// a model's hundreds of gradients cross the wire as a few large messages.
std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor>& ts, int64_t capBytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const auto& t : ts) {
    if (out.empty() || out.back().front().scalar_type() != t.scalar_type() || out.back().front().device() != t.device() ||
        (bytes + static_cast<int64_t>(t.nbytes()) > capBytes && bytes > 0)) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += static_cast<int64_t>(t.nbytes());
  }
  return out;
}

int64_t totalNumel(const std::vector<at::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

// Copy the tensors, in order, into `into` (a flat buffer of their total size).
at::Tensor flattenInto(const std::vector<at::Tensor>& ts, at::Tensor into) {
  int64_t off = 0;
  for (const auto& t : ts) {
    into.narrow(0, off, t.numel()).copy_(t.detach().reshape({-1}));
    off += t.numel();
  }
  return into;
}

at::Tensor flatten(const std::vector<at::Tensor>& ts) {
  return flattenInto(ts, at::empty({totalNumel(ts)}, ts.front().options().requires_grad(false)));
}

void unflattenInto(const at::Tensor& flat, const std::vector<at::Tensor>& ts) {
  int64_t off = 0;
  for (const auto& t : ts) {
    int64_t n = t.numel();
    t.detach().copy_(flat.narrow(0, off, n).view(t.sizes()));
    off += n;
  }
}

// allreduceBucketed(group, tensors, capBytes, scale): every tensor := scale · Σ_ranks tensor, in place.
// All buckets are sent before the first is waited for, so flattening bucket k+1 overlaps bucket k.
ENTRY(allreduceBucketed) {
  OpCall c(info, "allreduceBucketed");
  int64_t id = groupIdOf(c, info, 0);
  auto ts = c.tensorList(1, "tensors");
  int64_t cap = c.int64(2, "capBytes");
  double scale = c.float64(3, "scale");
  return c.guard([&] {
    auto e = entryById(id);
    auto& pg = e->pg;
    std::lock_guard<std::mutex> l(e->bucketsMutex);
    at::NoGradGuard noGrad;
    auto bs = buckets(ts, std::max<int64_t>(cap, 1));
    std::vector<at::Tensor> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    e->buckets.resize(bs.size());
    for (size_t k = 0; k < bs.size(); k++) {
      const auto& b = bs[k];
      at::Tensor& buf = e->buckets[k];
      const auto opts = b.front().options();
      if (!buf.defined() || buf.numel() != totalNumel(b) || buf.scalar_type() != b.front().scalar_type() || buf.device() != b.front().device()) {
        buf = at::empty({totalNumel(b)}, opts.requires_grad(false));
      }
      flats.push_back(flattenInto(b, buf));
      std::vector<at::Tensor> one{flats.back()};
      works.push_back(pg->allreduce(one));
    }
    for (size_t k = 0; k < bs.size(); k++) {
      waitFor(works[k]);
      if (scale != 1.0) flats[k].mul_(scale);
      unflattenInto(flats[k], bs[k]);
    }
    return c.env().Undefined();
  });
}

// allreduce(group, tensor, op): in place; op is sum, max or min.
ENTRY(allreduce) {
  OpCall c(info, "allreduce");
  int64_t id = groupIdOf(c, info, 0);
  at::Tensor t = c.tensor(1, "tensor");
  std::string op = c.str(2, "op");
  return c.guard([&] {
    auto pg = groupById(id);
    c10d::AllreduceOptions o;
    if (op == "sum") o.reduceOp = c10d::ReduceOp::SUM;
    else if (op == "max") o.reduceOp = c10d::ReduceOp::MAX;
    else if (op == "min") o.reduceOp = c10d::ReduceOp::MIN;
    else throw std::invalid_argument("unknown reduce op '" + op + "' (use sum, max or min)");
    if (!t.is_contiguous()) throw std::invalid_argument("allreduce needs a contiguous tensor");
    std::vector<at::Tensor> one{t.detach()};
    waitFor(pg->allreduce(one, o));
    return c.env().Undefined();
  });
}

// broadcastBucketed(group, tensors, root): every tensor := root's, in place (bucketed as above).
ENTRY(broadcastBucketed) {
  OpCall c(info, "broadcastBucketed");
  int64_t id = groupIdOf(c, info, 0);
  auto ts = c.tensorList(1, "tensors");
  int64_t root = c.int64(2, "root");
  return c.guard([&] {
    auto pg = groupById(id);
    at::NoGradGuard noGrad;
    c10d::BroadcastOptions o;
    o.rootRank = root;
    for (const auto& b : buckets(ts, int64_t(64) << 20)) {
      at::Tensor flat = flatten(b);
      std::vector<at::Tensor> one{flat};
      waitFor(pg->broadcast(one, o));
      unflattenInto(flat, b);
    }
    return c.env().Undefined();
  });
}

// ---- SyncBatchNorm ----
// PyTorch's SyncBatchNorm: batch statistics over every rank's batch. Each rank computes its count,
// mean and biased variance per channel; an allgather combines them (Chan et al.'s parallel variance,
// in float64); the input is normalised with the global statistics. Backward allreduces Σdy and
// Σdy·(x−μ) so that the input gradient sees the whole batch; weight and bias gradients stay local,
// as PyTorch's (the gradient allreduce averages them with the rest).
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::vector<int64_t> reduceDims(const at::Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t k = 2; k < x.dim(); k++) d.push_back(k);
  return d;
}

std::vector<int64_t> channelShape(const at::Tensor& x) {
  std::vector<int64_t> s(x.dim(), 1);
  s[1] = x.size(1);
  return s;
}

struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            const at::Tensor& runningMean, const at::Tensor& runningVar, double momentum, double eps, int64_t groupId) {
    TORCH_CHECK(x.dim() >= 2, "SyncBatchNorm expects an (N, C, ...) input, got ", x.sizes());
    auto pg = groupById(groupId);
    const int64_t C = x.size(1);
    const auto dims = reduceDims(x);
    const double count = static_cast<double>(C ? x.numel() / C : 0);
    // local [count, mean (C), biased var (C)], float64
    at::Tensor local = at::zeros({2 * C + 1}, x.options().dtype(at::kDouble));
    local[0].fill_(count);
    if (count > 0) {
      auto vm = at::var_mean(x, dims, /*unbiased=*/false, /*keepdim=*/false);
      local.narrow(0, 1, C).copy_(std::get<1>(vm));
      local.narrow(0, 1 + C, C).copy_(std::get<0>(vm));
    }
    const int64_t W = pg->getSize();
    at::Tensor all = at::empty({W, 2 * C + 1}, local.options());
    {
      std::vector<std::vector<at::Tensor>> outs(1);
      for (int64_t r = 0; r < W; r++) outs[0].push_back(all[r]);
      std::vector<at::Tensor> ins{local};
      waitFor(pg->allgather(outs, ins));
    }
    at::Tensor n = all.select(1, 0).unsqueeze(1);                 // (W,1)
    at::Tensor means = all.narrow(1, 1, C), vars = all.narrow(1, 1 + C, C);
    const double total = n.sum().item<double>();
    ctx->saved_data["total"] = total;
    ctx->saved_data["group"] = groupId;
    if (total == 0) {
      // no positions on any rank (a sparse map with nothing visible): what BatchNorm does with an
      // empty batch, and no collective in backward (every rank sees the same total)
      ctx->save_for_backward({x, weight});
      return at::batch_norm(x, weight, bias, runningMean, runningVar, /*training=*/true, momentum, eps, /*cudnn=*/true);
    }
    TORCH_CHECK(total > 1, "SyncBatchNorm: expected more than 1 value per channel over all ranks, got ", total);
    at::Tensor mean = (n * means).sum(0) / total;
    at::Tensor m2 = (n * vars).sum(0) + (n * (means - mean).pow(2)).sum(0);
    at::Tensor varBiased = m2 / total;
    if (runningMean.defined()) {
      at::NoGradGuard g;
      runningMean.mul_(1 - momentum).add_(mean.to(runningMean.scalar_type()), momentum);
      runningVar.mul_(1 - momentum).add_((m2 / (total - 1)).to(runningVar.scalar_type()), momentum);
    }
    at::Tensor meanX = mean.to(x.scalar_type()), invstd = (varBiased + eps).rsqrt().to(x.scalar_type());
    at::Tensor y = at::batch_norm(x, weight, bias, meanX, varBiased.to(x.scalar_type()), /*training=*/false, 0.0, eps, /*cudnn=*/true);
    ctx->save_for_backward({x, weight, meanX, invstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const double total = ctx->saved_data["total"].toDouble();
    if (total == 0) {
      const at::Tensor &x = saved[0], &weight = saved[1];
      at::Tensor gw = weight.defined() ? at::zeros_like(weight) : at::Tensor();
      return {at::zeros_like(x), gw, gw.defined() ? at::zeros_like(weight) : at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    auto pg = groupById(ctx->saved_data["group"].toInt());
    at::Tensor dy = grads[0].contiguous();
    const auto dims = reduceDims(x);
    const auto cs = channelShape(x);
    const int64_t C = x.size(1);
    at::Tensor xmu = x - mean.view(cs);
    at::Tensor sumDy = dy.sum(dims), sumDyXmu = (dy * xmu).sum(dims);
    at::Tensor gradWeight = weight.defined() ? sumDyXmu * invstd : at::Tensor();
    at::Tensor gradBias = weight.defined() ? sumDy.clone() : at::Tensor();
    at::Tensor packed = at::cat({sumDy, sumDyXmu});
    std::vector<at::Tensor> one{packed};
    waitFor(pg->allreduce(one));
    at::Tensor meanDy = packed.narrow(0, 0, C) / total, meanDyXmu = packed.narrow(0, C, C) / total;
    at::Tensor scale = weight.defined() ? invstd * weight : invstd;
    at::Tensor dx = (dy - meanDy.view(cs) - xmu * (invstd * invstd * meanDyXmu).view(cs)) * scale.view(cs);
    return {dx, gradWeight, gradBias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// syncBatchNorm(x, weight?, bias?, runningMean?, runningVar?, momentum, eps, group) -> y (training mode)
ENTRY(syncBatchNorm) {
  OpCall c(info, "syncBatchNorm");
  at::Tensor x = c.tensor(0, "input");
  auto w = c.optTensor(1, "weight");
  auto b = c.optTensor(2, "bias");
  auto rm = c.optTensor(3, "runningMean");
  auto rv = c.optTensor(4, "runningVar");
  double momentum = c.float64(5, "momentum");
  double eps = c.float64(6, "eps");
  int64_t id = groupIdOf(c, info, 7);
  return c.guard([&] {
    return c.ret(SyncBatchNormFn::apply(x, w.value_or(at::Tensor()), b.value_or(at::Tensor()), rm.value_or(at::Tensor()),
                                        rv.value_or(at::Tensor()), momentum, eps, id));
  });
}

#else  // no gloo: say how to get it

[[noreturn]] void noDist(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "this sparkts addon was built without c10d gloo (libtorch " TORCH_VERSION
                                     "): on Debian/Ubuntu run `apt-get install libgloo-dev` and rebuild with `bash scripts/setup.sh`");
}
ENTRY(newProcessGroup) { noDist(info); }
ENTRY(destroyProcessGroup) { noDist(info); }
ENTRY(barrier) { noDist(info); }
ENTRY(allgather) { noDist(info); }
ENTRY(allreduce) { noDist(info); }
ENTRY(allreduceBucketed) { noDist(info); }
ENTRY(broadcastBucketed) { noDist(info); }
ENTRY(syncBatchNorm) { noDist(info); }

#endif

}  // namespace

void registerDist(Napi::Env env, Napi::Object exports) {
  auto d = Napi::Object::New(env);
#define REG(name) d.Set(#name, Napi::Function::New(env, name, #name))
  REG(distAvailable); REG(newProcessGroup); REG(destroyProcessGroup); REG(barrier); REG(allgather); REG(allreduce);
  REG(allreduceBucketed); REG(broadcastBucketed); REG(syncBatchNorm);
#undef REG
  exports.Set("dist", d);
}

}  // namespace sparkts
