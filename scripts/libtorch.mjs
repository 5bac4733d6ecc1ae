#!/usr/bin/env node
// The one libtorch resolver. Every build path (node-gyp via native/binding.gyp, setup.sh, benches)
// asks this script where libtorch is. Order (DESIGN.md):
//   1. LIBTORCH=<dir>           a folder with include/ and lib/ (pytorch.org's libtorch, CUDA builds too)
//   2. LIBTORCH_USE_PYTORCH=1    ask an installed Python torch for its include and lib folders
//   3. the system install        Debian/Ubuntu `libtorch-dev` (/usr/include, /usr/lib/<multiarch>)
// Usage: node scripts/libtorch.mjs [--json | --include-dirs | --link-flags | --defines | --check | --has-gloo]
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const HOW_TO = `libtorch not found. Provide it one of three ways:
  1) LIBTORCH=/path/to/libtorch   (unzipped libtorch from pytorch.org, CPU or CUDA; has include/ and lib/)
  2) LIBTORCH_USE_PYTORCH=1       (use the libtorch inside an installed Python torch: python3 -c 'import torch')
  3) the system package           (Debian/Ubuntu: sudo apt-get install libtorch-dev libopenblas0-pthread)`;

function fromFolder(root, source) {
  const inc = path.join(root, 'include');
  const lib = path.join(root, 'lib');
  if (!existsSync(path.join(inc, 'ATen', 'ATen.h'))) return null;
  return finish({ source, includeDirs: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], libDir: lib, abi: abiFromCmake(root) });
}

function abiFromCmake(root) {
  // pytorch.org ships pre-cxx11 and cxx11 ABI builds; TorchConfig.cmake records which.
  for (const f of ['share/cmake/Torch/TorchConfig.cmake']) {
    const p = path.join(root, f);
    if (existsSync(p)) {
      const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(p, 'utf8'));
      if (m) return Number(m[1]);
    }
  }
  return 1;
}

function fromPython() {
  const py = process.env.PYTHON || 'python3';
  const code = 'import json,torch;from torch.utils import cpp_extension as c;' +
    'print(json.dumps(dict(inc=c.include_paths(),lib=c.library_paths(),abi=int(torch._C._GLIBCXX_USE_CXX11_ABI))))';
  let out;
  try { out = JSON.parse(execFileSync(py, ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })); } catch { return null; }
  const inc = out.inc.filter((d) => existsSync(d));
  if (!inc.some((d) => existsSync(path.join(d, 'ATen', 'ATen.h')))) return null;
  return finish({ source: 'python', includeDirs: inc, libDir: out.lib[0], abi: out.abi });
}

function fromSystem() {
  for (const prefix of ['/usr', '/usr/local']) {
    const inc = path.join(prefix, 'include');
    if (!existsSync(path.join(inc, 'ATen', 'ATen.h'))) continue;
    const libDirs = [path.join(prefix, 'lib'), path.join(prefix, 'lib64')];
    const lib = path.join(prefix, 'lib');
    if (existsSync(lib)) for (const d of readdirSync(lib)) if (d.endsWith('-linux-gnu')) libDirs.unshift(path.join(lib, d));
    const libDir = libDirs.find((d) => existsSync(path.join(d, 'libtorch.so')) || existsSync(path.join(d, 'libtorch_cpu.so')));
    if (!libDir) continue;
    return finish({ source: 'system', includeDirs: [inc, path.join(inc, 'torch', 'csrc', 'api', 'include')], libDir, abi: 1 });
  }
  return null;
}

function finish(r) {
  const has = (name) => existsSync(path.join(r.libDir, `lib${name}.so`));
  r.cuda = has('torch_cuda') || has('torch_cuda_cu');
  r.libs = ['torch', 'torch_cpu', 'c10', ...(r.cuda ? ['torch_cuda', 'c10_cuda'].filter(has) : [])];
  r.version = readVersion(r.includeDirs);
  Object.assign(r, findC10d(r));
  return r;
}

// c10d (data-parallel training, native/src/dist.cc). Every libtorch build carries c10d's classes; their
// headers need gloo's. pytorch.org's libtorch ships gloo's headers and links gloo statically; Debian's
// libtorch links the shared libgloo, whose headers come with libgloo-dev (setup.sh installs it). NCCL
// only when the libtorch has CUDA and nccl.h is there to compile ProcessGroupNCCL's header.
function findC10d(r) {
  const glooInc = [...r.includeDirs, '/usr/include', '/usr/local/include'].find((d) => existsSync(path.join(d, 'gloo', 'algorithm.h')));
  const c10dHeader = r.includeDirs.some((d) => existsSync(path.join(d, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp')));
  const gloo = Boolean(glooInc && c10dHeader);
  // a shared libgloo to link: Debian's libtorch needs it; libtorch builds with gloo inside have none
  const glooLibDirs = [r.libDir, ...(r.source === 'system' ? ['/usr/lib', '/lib', path.dirname(r.libDir)] : [])];
  const glooLib = gloo ? glooLibDirs.find((d) => existsSync(path.join(d, 'libgloo.so'))) ?? null : null;
  const nccl = gloo && r.cuda && [...r.includeDirs, '/usr/include', '/usr/local/cuda/include'].some((d) => existsSync(path.join(d, 'nccl.h')));
  return { gloo, glooIncludeDir: gloo && !r.includeDirs.includes(glooInc) ? glooInc : null, glooLib, nccl };
}

function readVersion(dirs) {
  for (const d of dirs) {
    for (const f of [path.join(d, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h'), path.join(d, 'torch', 'version.h')]) {
      if (existsSync(f)) {
        const t = readFileSync(f, 'utf8');
        const part = (k) => (new RegExp(`TORCH_VERSION_${k}\\s+(\\d+)`).exec(t) || [])[1];
        if (part('MAJOR')) return `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
      }
    }
  }
  return 'unknown';
}

export function resolveLibtorch() {
  if (process.env.LIBTORCH) {
    const r = fromFolder(path.resolve(process.env.LIBTORCH), 'LIBTORCH');
    if (!r) throw new Error(`LIBTORCH=${process.env.LIBTORCH} has no include/ATen/ATen.h; point it at an unzipped libtorch folder.\n${HOW_TO}`);
    return r;
  }
  if (process.env.LIBTORCH_USE_PYTORCH === '1') {
    const r = fromPython();
    if (!r) throw new Error(`LIBTORCH_USE_PYTORCH=1 but python3 could not report torch's include/lib folders.\n${HOW_TO}`);
    return r;
  }
  const r = fromSystem();
  if (!r) throw new Error(HOW_TO);
  return r;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let r;
  try { r = resolveLibtorch(); } catch (e) { console.error(String(e.message)); process.exit(1); }
  const mode = process.argv[2] || '--json';
  if (mode === '--json') console.log(JSON.stringify(r, null, 1));
  else if (mode === '--include-dirs') console.log([...r.includeDirs, ...(r.glooIncludeDir ? [r.glooIncludeDir] : [])].join(' '));
  else if (mode === '--link-flags') {
    // --no-as-needed keeps torch_cuda linked although no symbol of it is referenced: its static
    // initialisers register the CUDA backend.
    const gloo = r.glooLib ? [...(r.glooLib !== r.libDir ? [`-L${r.glooLib}`] : []), '-lgloo'] : [];
    console.log([`-L${r.libDir}`, `-Wl,-rpath,${r.libDir}`, '-Wl,--no-as-needed', ...r.libs.map((l) => `-l${l}`), '-Wl,--as-needed', ...gloo].join(' '));
  } else if (mode === '--defines') {
    console.log([`_GLIBCXX_USE_CXX11_ABI=${r.abi}`, ...(r.gloo ? ['USE_C10D_GLOO'] : []), ...(r.nccl ? ['USE_C10D_NCCL'] : [])].join(' '));
  } else if (mode === '--check') {
    const dist = r.gloo ? `c10d gloo${r.nccl ? '+nccl' : ''}` : 'no c10d gloo headers: distributed training off';
    console.log(`libtorch ${r.version} (${r.source}${r.cuda ? ', CUDA' : ''}; ${dist}) at ${r.libDir}`);
  } else if (mode === '--has-gloo') process.exit(r.gloo ? 0 : 1);
  else { console.error(`unknown flag ${mode}`); process.exit(2); }
}
