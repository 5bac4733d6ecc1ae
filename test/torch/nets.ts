// A small module tree used by the nn tests and the PyTorch cross-check: a Sequential stem, a
// parameter registered between children, a ModuleList of blocks (each with a parameter registered after
// a child and a non-persistent buffer), a buffer, and a Linear head. PYTHON_NET is the same tree in PyTorch.
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';

export class Block extends nn.Module<[torch.Tensor], torch.Tensor> {
  readonly conv: nn.Conv2d;
  readonly norm: nn.LayerNorm;
  readonly gamma: torch.Tensor;
  constructor(c: number) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(c, c, 3, { padding: 1 }));
    // registered after a child: PyTorch still lists a module's own parameters before its children's
    this.gamma = this.registerParameter('gamma', torch.full([c], 0.5));
    this.registerBuffer('scale', torch.ones([1]), false); // non-persistent: not in the state dict
    this.norm = this.registerModule('norm', new nn.LayerNorm(c));
  }
  forward(x: torch.Tensor): torch.Tensor {
    const y = this.conv.forward(x).permute([0, 2, 3, 1]);
    return this.norm.forward(y).mul(this.gamma).permute([0, 3, 1, 2]).add(x);
  }
}

export class Net extends nn.Module<[torch.Tensor], torch.Tensor> {
  readonly stem: nn.Sequential;
  readonly blocks: nn.ModuleList<Block>;
  readonly head: nn.Linear;
  constructor() {
    super();
    this.stem = this.registerModule('stem', new nn.Sequential(new nn.Conv2d(3, 8, 3, { bias: false }), new nn.BatchNorm2d(8), new nn.ReLU()));
    this.registerParameter('mask_token', torch.zeros([1, 8, 1, 1]));
    this.blocks = this.registerModule('blocks', new nn.ModuleList([new Block(8), new Block(8)]));
    this.registerBuffer('pos', torch.arange(4, undefined, 1, { dtype: 'float32' }));
    this.head = this.registerModule('head', new nn.Linear(8, 10));
  }
  forward(x: torch.Tensor): torch.Tensor {
    let h = this.stem.forward(x).add(this.getParameter('mask_token')!);
    for (const b of this.blocks) h = b.forward(h);
    return this.head.forward(h.mean([2, 3]));
  }
}

// PyTorch's rules, applied by hand to Net: a module's parameters (registration order), then its
// persistent buffers, then each child's entries recursively (children in registration order).
export const NET_KEYS = [
  'mask_token', 'pos',
  'stem.0.weight', 'stem.1.weight', 'stem.1.bias', 'stem.1.running_mean', 'stem.1.running_var', 'stem.1.num_batches_tracked',
  ...[0, 1].flatMap((i) => [`blocks.${i}.gamma`, `blocks.${i}.conv.weight`, `blocks.${i}.conv.bias`, `blocks.${i}.norm.weight`, `blocks.${i}.norm.bias`]),
  'head.weight', 'head.bias',
];
// named_parameters walks named_modules() (pre-order) and lists each module's own parameters
export const NET_PARAMS = NET_KEYS.filter((k) => !/running_|num_batches|^pos$/.test(k));
// 3·8·9 + 8 + 8 + 8 (stem) + 2·(8 + 8·8·9 + 8 + 8 + 8) (blocks) + 8·10 + 10 (head)
export const NET_NUMEL = 216 + 8 + 8 + 8 + 2 * (8 + 576 + 8 + 8 + 8) + 90;

export const PYTHON_NET = `
class Block(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.conv = nn.Conv2d(c, c, 3, padding=1)
        s.gamma = nn.Parameter(torch.full((c,), 0.5))
        s.register_buffer('scale', torch.ones(1), persistent=False)
        s.norm = nn.LayerNorm(c)
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.stem = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        s.mask_token = nn.Parameter(torch.zeros(1, 8, 1, 1))
        s.blocks = nn.ModuleList([Block(8), Block(8)])
        s.register_buffer('pos', torch.arange(4.))
        s.head = nn.Linear(8, 10)
`;
