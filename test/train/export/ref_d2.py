"""The reference's detectron2 conversion (SparK's downstream_d2/convert-timm-to-d2.py), run beside ours.

None of the reference's code is committed: it is loaded from a SparK checkout (../ref/SparK, or the
SPARK_REF environment variable) and needs Debian's python3-torch (1.13) and numpy.

  ref_d2.py fixture SPARK_DIR SRC.pth OUT.json
      writes the committed fixture: what the reference's converter makes of SRC.pth (every d2 key
      with its dtype, shape and the sha256 of its bytes, and the sha256 of the whole result pickled
      at protocol 2, the protocol sparkts writes)
  ref_d2.py compare SPARK_DIR JOBS.json
      JOBS.json: [{"src": SRC.pth, "ours": OURS.pkl, "entry": null | ENTRY}, …]. For each job, runs the
      converter on SRC.pth (or on SRC.pth[ENTRY] saved alone, e.g. a fine-tune checkpoint's 'ema',
      which the reference's converter never reads) and compares OURS.pkl with its result: same keys in
      the same order, dtypes, shapes and bytes, same top-level entries, and whether
      pickle.dumps(reference result, protocol=2) is byte-identical to OURS.pkl. Prints one JSON list.
"""
import contextlib, hashlib, importlib.util, json, os, pickle, sys, tempfile

import numpy as np
import torch


def reference_convert(spark_dir, src, entry=None):
    path = os.path.join(spark_dir, 'downstream_d2', 'convert-timm-to-d2.py')
    spec = importlib.util.spec_from_file_location('convert_timm_to_d2', path)
    conv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conv)
    with tempfile.TemporaryDirectory() as d:
        if entry is not None:
            alone = os.path.join(d, 'entry.pth')
            torch.save(torch.load(src, map_location='cpu')[entry], alone)
            src = alone
        out = os.path.join(d, 'd2.pkl')
        with contextlib.redirect_stdout(sys.stderr):  # it prints a "[convert] .pkl is generated!" line
            conv.timm_resnet_to_detectron2_resnet(src, out)
        with open(out, 'rb') as f:
            return pickle.load(f)


def describe(obj):
    return {
        'top': [k for k in obj],
        'author': obj['__author__'],
        'matching_heuristics': obj['matching_heuristics'],
        'model': [[k, v.dtype.str, list(v.shape), hashlib.sha256(v.tobytes()).hexdigest()] for k, v in obj['model'].items()],
        'pickle_protocol2_sha256': hashlib.sha256(pickle.dumps(obj, protocol=2)).hexdigest(),
    }


def main():
    mode, spark_dir = sys.argv[1:3]
    if mode == 'fixture':
        src = sys.argv[3]
        ref = reference_convert(spark_dir, src)
        fixture = {'made_by': 'test/train/export/ref_d2.py fixture (SparK downstream_d2/convert-timm-to-d2.py)',
                   'source': os.path.basename(src),
                   'source_sha256': hashlib.sha256(open(src, 'rb').read()).hexdigest(), **describe(ref)}
        # one model entry per line, so that a diff of the fixture reads like a diff of the state dict
        lines = [f' {json.dumps(k)}: {json.dumps(v)}' for k, v in fixture.items() if k != 'model']
        lines.append(' "model": [\n' + ',\n'.join(f'  {json.dumps(e)}' for e in fixture['model']) + '\n ]')
        with open(sys.argv[4], 'w') as f:
            f.write('{\n' + ',\n'.join(lines) + '\n}\n')
        return
    with open(sys.argv[3]) as f:
        jobs = json.load(f)
    print(json.dumps([compare(reference_convert(spark_dir, j['src'], j.get('entry')), j['ours']) for j in jobs]))


def compare(ref, ours_path):
    with open(ours_path, 'rb') as f:
        raw = f.read()
    ours = pickle.loads(raw)
    problems = []
    if list(ours) != list(ref): problems.append(f'top-level keys {list(ours)} != {list(ref)}')
    for k in ('__author__', 'matching_heuristics'):
        if ours.get(k) != ref[k]: problems.append(f'{k}: {ours.get(k)!r} != {ref[k]!r}')
    om, rm = ours['model'], ref['model']
    if list(om) != list(rm): problems.append(f'model keys differ: ours {list(om)[:5]}… vs reference {list(rm)[:5]}…')
    for k, r in rm.items():
        o = om.get(k)
        if not isinstance(o, np.ndarray): problems.append(f'{k}: {type(o).__name__}, not a numpy array'); continue
        if o.dtype != r.dtype or o.shape != r.shape or not np.array_equal(o, r):
            problems.append(f'{k}: {o.dtype}{o.shape} differs from the reference {r.dtype}{r.shape}')
    return {'problems': problems, 'tensors': len(rm), 'keys': list(rm), 'bytes_identical': pickle.dumps(ref, protocol=2) == raw}


if __name__ == '__main__':
    main()
