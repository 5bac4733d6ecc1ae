# Python torch on the same GPU: the baseline for the conv/matmul GFLOP/s that gpu_check.mjs measures.
import torch, time, json, statistics
torch.backends.cudnn.allow_tf32 = False; torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.benchmark = False
def timeit(fn, reps=20):
    for _ in range(3): fn()
    torch.cuda.synchronize(); ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
x = torch.randn(32, 128, 56, 56, device='cuda', requires_grad=True); w = torch.randn(128, 128, 3, 3, device='cuda', requires_grad=True)
def conv():
    y = torch.nn.functional.conv2d(x, w, padding=1); y.backward(torch.ones_like(y))
flops = 3 * 2 * 32 * 128 * 128 * 9 * 56 * 56
s = timeit(conv); print(json.dumps({'what': 'python conv3x3 fwd+bwd', 'gflops': flops / s / 1e9, 'sec': s}))
a = torch.randn(8192, 8192, device='cuda'); b = torch.randn(8192, 8192, device='cuda')
s = timeit(lambda: a @ b); print(json.dumps({'what': 'python matmul 8192^3 fp32', 'gflops': 2 * 8192**3 / s / 1e9, 'sec': s}))
