// The libtorch-direct baseline for bench/ops.bench.ts: the same work as ours, with no binding in between.
// Built on the fly by bench/baseline/build.sh. A long-lived child of the bench, so that the two can be
// interleaved rep by rep (A B A B ...) and share the machine's noise.
//
// Protocol (one line each way, JSON out):
//   start:            ops_baseline <threads>      -> {"torchVersion":..,"threads":..,"parallelInfo":..}
//   "<op> <inner>"    run op `inner` times, timed  -> {"op":..,"seconds":<wall seconds for all inner runs>}
//   "quit"            exit
// ops: conv2d_fb (3x3 conv forward + backward to input and weight), matmul (1024^3 float32).
// Shapes are fixed here and in ops.bench.ts (conv: N=8, C 64->64, 56x56, padding 1; matmul: 1024^3).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

static std::string jsonEscape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') { o += '\\'; o += ch; }
    else if (ch == '\n') o += "\\n";
    else if (ch == '\t') o += "\\t";
    else if (static_cast<unsigned char>(ch) < 0x20) o += ' ';
    else o += ch;
  }
  return o;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  if (threads > 0) at::set_num_threads(threads);
  at::manual_seed(0);

  // conv2d 3x3: the weight and the input both need gradients, as in training a layer that is not the first.
  at::Tensor x = at::randn({8, 64, 56, 56}).set_requires_grad(true);
  at::Tensor w = at::randn({64, 64, 3, 3}).mul_(0.05).set_requires_grad(true);
  at::Tensor gy = at::randn({8, 64, 56, 56});
  // matmul 1024^3
  at::Tensor a = at::randn({1024, 1024});
  at::Tensor b = at::randn({1024, 1024});

  std::cout << "{\"torchVersion\":\"" << TORCH_VERSION << "\",\"threads\":" << at::get_num_threads()
            << ",\"parallelInfo\":\"" << jsonEscape(at::get_parallel_info()) << "\"}" << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string op;
    long inner = 1;
    in >> op >> inner;
    if (op == "quit") break;
    auto t0 = std::chrono::steady_clock::now();
    if (op == "conv2d_fb") {
      for (long i = 0; i < inner; i++) {
        // Fresh gradients each run (no accumulation), exactly as the bench does on our side.
        x.mutable_grad().reset();
        w.mutable_grad().reset();
        at::Tensor y = at::conv2d(x, w, {}, {1, 1}, {1, 1});
        y.backward(gy);
      }
    } else if (op == "matmul") {
      for (long i = 0; i < inner; i++) {
        at::Tensor c = at::matmul(a, b);
      }
    } else {
      std::cout << "{\"error\":\"unknown op '" << jsonEscape(op) << "'\"}" << std::endl;
      continue;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "{\"op\":\"" << op << "\",\"seconds\":" << s << "}" << std::endl;
  }
  return 0;
}
