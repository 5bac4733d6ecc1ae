"""Time the reference's fine-tuning step (SparK downstream_imagenet, main.py fine_tune_one_epoch), for
side-by-side comparison with `spark finetune`'s step in bench/spark_step.bench.ts --job finetune.

Needs Debian's python3-torch and REF: a folder holding `SparK/` (keyu-tian/SparK) and `timm/` (the
`timm` package of pytorch-image-models v0.5.4). Nothing of either is part of this project.

    REF=/path/to/ref /usr/bin/python3 ft_ref_step.py --model resnet50 --size 224 --bs 8 --iters 2 --threads 2

One iteration = what fine_tune_one_epoch does per batch (no data loading, one process, so no DDP):
lr_wd_annealing, BatchMixup, forward, accuracy, zero_grad, criterion, backward, optimizer step, EMA
update; the model, optimizer, mixup and criterion built as util.py create_model_opt builds them, with
arg.py's per-model defaults (ResNet-50: timm Lamb, lr_scale 0.7, wd 0.02, mixup 0.1, drop path 0.05,
EMA 0.9999; clip off). Prints one JSON line, the fields of ref_step.py.
"""
import argparse, json, os, resource, statistics, sys, time, types
from functools import partial

p = argparse.ArgumentParser()
p.add_argument('--model', default='resnet50')
p.add_argument('--size', type=int, default=224)
p.add_argument('--bs', type=int, default=8)
p.add_argument('--iters', type=int, default=3)
p.add_argument('--warmup', type=int, default=1)
p.add_argument('--threads', type=int, default=os.cpu_count())
a = p.parse_args()

REF = os.environ['REF']
sys.path.insert(0, REF); sys.path.insert(0, os.path.join(REF, 'SparK')); sys.path.insert(0, os.path.join(REF, 'SparK', 'downstream_imagenet'))
import torch
torch.set_num_threads(a.threads)
sys.modules['torch.utils.tensorboard'] = types.SimpleNamespace(SummaryWriter=object)
sys.modules.setdefault('tap', types.SimpleNamespace(Tap=object))  # arg.py's argument parser base; only its tables are used
from timm import create_model
from timm.loss import BinaryCrossEntropy, SoftTargetCrossEntropy
from timm.optim import AdamW, Lamb
from timm.utils import ModelEmaV2
import models  # noqa: F401  (registers the reference's ConvNeXt and layer-id rules on timm's classes)
from arg import HP_DEFAULT_NAMES, HP_DEFAULT_VALUES
from lr_decay import get_param_groups, lr_wd_annealing
from downstream_imagenet.mixup import BatchMixup

hp = dict(zip(HP_DEFAULT_NAMES, HP_DEFAULT_VALUES[a.model]))
torch.manual_seed(0)
model = create_model(a.model, num_classes=1000, drop_path_rate=hp['drop_path'])
ema = ModelEmaV2(model, decay=hp['ema'])
model.train()
opt_cls = {'adam': AdamW, 'adamw': AdamW, 'lamb': partial(Lamb, max_grad_norm=1e7, always_adapt=True, bias_correction=False)}
lr = hp['base_lr'] * a.bs / 256
optimizer = opt_cls[hp['opt']](get_param_groups(model, nowd_keys={'cls_token', 'pos_embed', 'mask_token', 'gamma'}, lr_scale=hp['lr_scale']), lr=lr, weight_decay=0)
mixup_fn = BatchMixup(mixup_alpha=hp['mixup'], cutmix_alpha=1.0, cutmix_minmax=None, prob=1.0, switch_prob=0.5, mode='batch', label_smoothing=0.1, num_classes=1000)
mixup_fn.mixup_enabled = hp['mixup'] > 0.0
criterion = BinaryCrossEntropy(smoothing=0, target_threshold=None) if 'lamb' in hp['opt'] else SoftTargetCrossEntropy()

x = torch.randn(a.bs, 3, a.size, a.size)
y = torch.arange(a.bs) % 1000
times, loss = [], None
for it in range(a.warmup + a.iters):
    t = time.perf_counter()
    lr_wd_annealing(optimizer, lr, hp['wd'], it, 1, 100)
    inp, tar, raw_tar = mixup_fn(x, y)
    oup = model(inp)
    pred = oup.data.argmax(dim=1)
    acc = (pred.eq(raw_tar) | pred.eq(raw_tar.flip(0))).float().mean().item() * 100
    optimizer.zero_grad()
    loss = criterion(oup, tar)
    loss.backward()
    loss = loss.item()
    optimizer.step()
    ema.update(model)
    if it >= a.warmup:
        times.append(time.perf_counter() - t)
s = statistics.median(times)
print(json.dumps(dict(model=a.model, size=a.size, bs=a.bs, threads=torch.get_num_threads(), warmup=a.warmup, iters=a.iters,
                      sec_per_iter=round(s, 4), img_per_sec=round(a.bs / s, 3), loss=round(loss, 5), torch=torch.__version__,
                      maxrss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))))
