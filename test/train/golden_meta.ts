// The golden fixtures' safetensors headers, read directly (8-byte little-endian length + JSON), for the
// schedule / param-group / LAMB-checkpoint tests: the `__metadata__` strings and each tensor's shape.
import fs from 'node:fs';
import { goldenPath } from '../helpers.js';

export const GOLDEN_CASES = ['resnet_basic_96', 'resnet_bottleneck_64', 'convnext_96', 'convnext_128_m75'];

export { goldenPath };

export interface GoldenHeader {
  meta: Record<string, string>;
  shapes: Map<string, number[]>;
}

export function readGoldenHeader(caseName: string): GoldenHeader {
  const fd = fs.openSync(goldenPath(`${caseName}.safetensors`), 'r');
  try {
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const json = Buffer.alloc(n);
    fs.readSync(fd, json, 0, n, 8);
    const header = JSON.parse(json.toString('utf8')) as Record<string, unknown>;
    const shapes = new Map<string, number[]>();
    for (const [k, v] of Object.entries(header)) if (k !== '__metadata__') shapes.set(k, (v as { shape: number[] }).shape);
    return { meta: header.__metadata__ as Record<string, string>, shapes };
  } finally {
    fs.closeSync(fd);
  }
}

/** The case's parameters in registration order with their shapes (from the `state.<name>` entries). */
export function goldenParams(h: GoldenHeader): [string, number[]][] {
  const names = JSON.parse(h.meta.param_names) as string[];
  return names.map((n) => {
    const s = h.shapes.get(`state.${n}`);
    if (!s) throw new Error(`golden header lacks state.${n}`);
    return [n, s];
  });
}
