// A small labelled dataset of real photographs for the fine-tuning tests: each class is one of the
// photos in test/fixtures/ft_data/inputs (scikit-image's astronaut, camera, chelsea, coffee), its
// train images are different crops of that photo and its val image another crop, written as PNGs in the
// ImageNet layout <root>/train/<class>/*.png, <root>/val/<class>/*.png.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { repoRoot } from '../helpers.js';

export const PHOTOS = ['astronaut', 'camera', 'chelsea', 'coffee'] as const;

/** Crop boxes as fractions of the photo [left, top, size]: train crops, then the val crop. */
const TRAIN_CROPS: [number, number, number][] = [[0, 0, 0.7], [0.3, 0.3, 0.7], [0.3, 0, 0.7], [0, 0.3, 0.7]];
const VAL_CROPS: [number, number, number][] = [[0.1, 0.1, 0.8], [0.15, 0.05, 0.75]];

export async function photoDataset(root: string, o: { classes?: number; trainPerClass?: number; valPerClass?: number; side?: number } = {}): Promise<string> {
  const classes = PHOTOS.slice(0, o.classes ?? PHOTOS.length);
  const side = o.side ?? 48;
  for (const [k, name] of classes.entries()) {
    const src = path.join(repoRoot(), 'test', 'fixtures', 'ft_data', 'inputs', `${name}.webp`);
    const meta = await sharp(src).metadata();
    const w = meta.width!, h = meta.height!;
    const write = async (split: string, i: number, [l, t, s]: [number, number, number]): Promise<void> => {
      const dir = path.join(root, split, `${k}_${name}`);
      fs.mkdirSync(dir, { recursive: true });
      const size = Math.floor(Math.min(w, h) * s);
      await sharp(src).extract({ left: Math.floor(l * (w - size)), top: Math.floor(t * (h - size)), width: size, height: size })
        .resize(side, side).png().toFile(path.join(dir, `${name}_${i}.png`));
    };
    for (let i = 0; i < (o.trainPerClass ?? 4); i++) await write('train', i, TRAIN_CROPS[i % TRAIN_CROPS.length]!);
    for (let i = 0; i < (o.valPerClass ?? 1); i++) await write('val', i, VAL_CROPS[i % VAL_CROPS.length]!);
  }
  return root;
}
