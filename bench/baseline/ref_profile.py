"""Profile one step of the reference's SparK pretraining with torch.profiler, for
bench/spark_profile.bench.ts: per ATen op name, self CPU time, total time and calls, with ops nested in
the optimizer step ("Optimizer.step#...", the range PyTorch opens around every optimizer step) prefixed
"[optimizer] " — the same shape as sparkts's torch.profiler.profile, so both split into one table.

    REF=/path/to/ref /usr/bin/python3 ref_profile.py --model resnet50 --size 224 --bs 8 --warmup 1 --threads 2

The model, optimizer and step are ../shared/refbench/ref_step.py's (the reference's SparK, LAMB and
lr_wd_annealing, built as there). Prints one JSON line: wall_s of the profiled step and ops.
"""
import argparse, json, os, sys, time, types

p = argparse.ArgumentParser()
p.add_argument('--model', default='resnet50')
p.add_argument('--size', type=int, default=224)
p.add_argument('--bs', type=int, default=8)
p.add_argument('--warmup', type=int, default=1)
p.add_argument('--threads', type=int, default=os.cpu_count())
a = p.parse_args()

REF = os.environ['REF']
sys.path.insert(0, REF); sys.path.insert(0, os.path.join(REF, 'SparK', 'pretrain'))
import torch
from torch.profiler import profile, ProfilerActivity
torch.set_num_threads(a.threads)
sys.modules['torch.utils.tensorboard'] = types.SimpleNamespace(SummaryWriter=object)
from models import build_sparse_encoder
from decoder import LightDecoder
from spark import SparK
from utils.lamb import TheSameAsTimmLAMB
from utils.lr_control import lr_wd_annealing, get_param_groups

torch.manual_seed(0)
enc = build_sparse_encoder(a.model, input_size=a.size, sbn=False, drop_path_rate=0.0)
dec = LightDecoder(enc.downsample_raito, sbn=False)
model = SparK(enc, dec, mask_ratio=0.6, densify_norm='ln' if 'convnext' in a.model else 'bn', sbn=False).train()
opt = TheSameAsTimmLAMB(get_param_groups(model, nowd_keys={'cls_token', 'pos_embed', 'mask_token', 'gamma'}),
                        lr=2e-4 * a.bs / 256, weight_decay=0.0, betas=(0.9, 0.999 if 'convnext' in a.model else 0.95), max_grad_norm=5.0)
x = torch.randn(a.bs, 3, a.size, a.size)


def step(it):
    lr_wd_annealing(opt, 2e-4 * a.bs / 256, 0.04, 0.2, it, 1, 100)
    loss = model(x)
    opt.zero_grad(); loss.backward(); opt.step()


for it in range(a.warmup):
    step(it)
with profile(activities=[ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    step(a.warmup)
    wall = time.perf_counter() - t

agg = {}
for e in prof.events():
    under_opt, q = False, e.cpu_parent
    while q is not None:
        if q.name.startswith('Optimizer.step#'):
            under_opt = True
            break
        q = q.cpu_parent
    name = ('[optimizer] ' if under_opt else '') + e.name
    r = agg.setdefault(name, dict(name=name, selfUs=0.0, totalUs=0.0, calls=0))
    r['selfUs'] += e.self_cpu_time_total
    r['totalUs'] += e.cpu_time_total
    r['calls'] += 1
print(json.dumps(dict(wall_s=wall, ops=list(agg.values()))))
