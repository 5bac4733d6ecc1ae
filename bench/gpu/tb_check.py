# Read the TensorBoard event file that gpu_check.mjs wrote with TensorBoard's own reader.
import glob
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
for d in glob.glob('/tmp/tbcheck'):
    ea = EventAccumulator(d, size_guidance={'scalars': 0, 'images': 0}); ea.Reload()
    tags = ea.Tags(); print('tags', tags)
    for t in tags['scalars']: ev = ea.Scalars(t); print(t, len(ev), [round(e.value, 6) for e in ev[:5]])
    for t in tags['images']: ev = ea.Images(t); print(t, len(ev), ev[0].width, ev[0].height)
