"""Python-torch baseline for bench/ops.bench.ts: the same work and the same line protocol as
ops_baseline.cc (see there). Run by the bench as a long-lived child when `python3 -c 'import torch'` works:
    python3 bench/baseline/ops_baseline.py <threads>
"""
import json
import sys
import time

import torch


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(8, 64, 56, 56).requires_grad_(True)
    w = torch.randn(64, 64, 3, 3).mul_(0.05).requires_grad_(True)
    gy = torch.randn(8, 64, 56, 56)
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    print(json.dumps({"torchVersion": torch.__version__, "threads": torch.get_num_threads(),
                      "parallelInfo": torch.__config__.parallel_info()}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        op, inner = parts[0], int(parts[1]) if len(parts) > 1 else 1
        if op == "quit":
            break
        t0 = time.perf_counter()
        if op == "conv2d_fb":
            for _ in range(inner):
                x.grad = None
                w.grad = None
                y = torch.nn.functional.conv2d(x, w, None, 1, 1)
                y.backward(gy)
                del y
        elif op == "matmul":
            for _ in range(inner):
                c = torch.matmul(a, b)
                del c
        else:
            print(json.dumps({"error": f"unknown op '{op}'"}), flush=True)
            continue
        print(json.dumps({"op": op, "seconds": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
