"""Feeds an `spark export --to mmdet` file to the reference's mmdetection ConvNeXt backbone, the way its
downstream_mmdet setup does, and reports what the backbone received.

The reference's configs pass the file as `model.pretrained=FILE`; mmdet 2.x hands it to the backbone's
init_weights(pretrained), which calls mmcv_custom.load_checkpoint(backbone, FILE, strict=False). The
reference imports that loader but does not ship it (it is Swin-Transformer-Object-Detection's
mmcv_custom/checkpoint.py, commit 6a979e2, which its README names); its rule for a local file is
restated below: checkpoint['state_dict'], else checkpoint['model'], else the checkpoint itself; a
leading 'module.' stripped; then load_state_dict(strict=False). mmcv and mmdet are stubbed: only the
reference's backbone class (downstream_mmdet/mmdet/models/backbones/convnext.py) and timm 0.5.4's
layers are real. Nothing of them is committed; SPARK_DIR and TIMM_DIR point at checkouts.

  ref_mmdet.py SPARK_DIR TIMM_DIR FILE.pth DEPTHS DIMS     (e.g. 1,1,2,1 16,32,64,128)
prints one JSON line: missing and unexpected keys, and the keys whose loaded values differ from FILE's.
"""
import importlib.util, json, os, sys, types

spark_dir, timm_dir, file, depths, dims = sys.argv[1:6]
sys.path.insert(0, timm_dir)
import torch


def pkg(name):
    m = types.ModuleType(name)
    m.__path__ = []
    sys.modules[name] = m
    return m


def load_checkpoint(model, filename, map_location='cpu', strict=False, logger=None):
    checkpoint = torch.load(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise RuntimeError(f'No state_dict found in checkpoint file {filename}')
    state_dict = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint.get('model', checkpoint)
    if list(state_dict.keys())[0].startswith('module.'):
        state_dict = {k[7:]: v for k, v in state_dict.items()}
    load_checkpoint.result = model.load_state_dict(state_dict, strict=strict)
    load_checkpoint.state_dict = state_dict
    return checkpoint


mmcv_custom = pkg('mmcv_custom')
mmcv_custom.load_checkpoint = load_checkpoint
pkg('mmdet')
pkg('mmdet.utils').get_root_logger = lambda *a, **k: None
pkg('mmdet.models')
pkg('mmdet.models.builder').BACKBONES = types.SimpleNamespace(register_module=lambda *a, **k: (lambda cls: cls))
pkg('mmdet.models.backbones')
path = os.path.join(spark_dir, 'downstream_mmdet', 'mmdet', 'models', 'backbones', 'convnext.py')
spec = importlib.util.spec_from_file_location('mmdet.models.backbones.convnext', path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

backbone = mod.ConvNeXt(depths=[int(x) for x in depths.split(',')], dims=[int(x) for x in dims.split(',')])
backbone.init_weights(pretrained=file)
r = load_checkpoint.result
got = backbone.state_dict()
differ = [k for k, v in load_checkpoint.state_dict.items() if k in got and not torch.equal(got[k], v)]
print(json.dumps({'missing': list(r.missing_keys), 'unexpected': list(r.unexpected_keys), 'differ': differ, 'loaded': len(got) - len(r.missing_keys)}))
