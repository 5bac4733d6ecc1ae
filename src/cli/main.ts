#!/usr/bin/env node
// The `spark` command: pretrain (the main job), verify, reconstruct, export.
import { UsageError } from './args.js';

const COMMANDS: Record<string, { help: string; run: (argv: string[]) => Promise<number> }> = {
  pretrain: { help: 'SparK-pretrain a convnet on an image folder (default: the bundled demo photos)', run: async (a) => (await import('./pretrain.js')).pretrainCommand(a) },
  export: { help: 'write weights for detectron2 (d2), mmdetection, timm or safetensors', run: async (a) => (await import('./export.js')).exportCommand(a) },
  reconstruct: { help: 'reconstruct masked images with a pretrained checkpoint, as PNGs', run: async (a) => (await import('./reconstruct.js')).reconstructCommand(a) },
  verify: { help: 'check this install against the reference\'s golden numbers', run: async (a) => (await import('./verify.js')).verifyCommand(a) },
};

function usage(): string {
  return ['usage: spark <command> [flags]   (spark <command> --help for its flags)', '', 'commands:',
    ...Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.help}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { console.log(usage()); return cmd ? 0 : 2; }
  const c = COMMANDS[cmd];
  if (!c) throw new UsageError(`unknown command '${cmd}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
  return c.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    // one line naming the problem and the fix; stack traces only on request
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`spark: error: ${msg.split('\n')[0]}`);
    if (process.env.SPARKTS_DEBUG && e instanceof Error) console.error(e.stack);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);
