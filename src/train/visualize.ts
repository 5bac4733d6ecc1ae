// Reconstruction pictures: for each image a row  input | masked | reconstruction (visible patches
// from the input, masked ones reconstructed) | full reconstruction, de-normalised, as one PNG grid.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { SparK } from '../spark/index.js';
import { imageGrid, encodePng, denormalize, type GridImage } from './monitor/index.js';

export interface ReconstructionGrid { png: Uint8Array; height: number; width: number }

/** Run the reference's visualisation pass (eval mode, no grad) and lay the results out as a grid. */
export function reconstructionGrid(model: SparK, input: Tensor, active: Tensor): ReconstructionGrid {
  const wasTraining = model.training;
  model.eval();
  try {
    const rows = torch.tidy(() => torch.noGrad(() => {
      const v = model.visualize(input, active);
      const cols = [v.input, v.masked, v.recOrInp, v.reconstruction].map((t) => t.to({ device: 'cpu', dtype: 'float32' }).contiguous().toTypedArray() as Float32Array);
      const [B, , H, W] = input.shape;
      const per = 3 * H * W;
      return Array.from({ length: B }, (_, b) => cols.map((c): GridImage => ({ data: denormalize(c.subarray(b * per, (b + 1) * per)), h: H, w: W })));
    }));
    const grid = imageGrid(rows, 2);
    return { png: encodePng(grid.data, grid.height, grid.width, 3), height: grid.height, width: grid.width };
  } finally {
    model.train(wasTraining);
  }
}
