// `spark serve --exp_dir E [--ckpt F] [--port P] [--host 127.0.0.1]`: a local web page to watch a run
// (curves, reconstruction grids, flags, checkpoints) and to mask images by hand and see what a
// checkpoint fills in. Runs until Ctrl-C.
import { existsSync, statSync } from 'node:fs';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';
import { startServer } from '../serve/index.js';
import { setNumThreads } from '../torch/index.js';

const FLAGS: FlagSpecs = {
  exp_dir: { type: 'string', default: '', help: 'the run\'s folder (its --exp_dir): logs, checkpoints, reconstructions' },
  ckpt: { type: 'string', default: '', help: 'a *_withdecoder_*_spark_style.pth for the playground besides the exp dir\'s own' },
  port: { type: 'int', default: 8765, help: 'port (0 = any free port)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on; anything but loopback makes the run readable from other machines' },
  max_upload_mb: { type: 'float', default: 20, help: 'largest image the playground accepts' },
  device: { type: 'string', default: 'cpu', help: 'cpu or cuda[:n] for the playground\'s inference' },
  threads: { type: 'int', default: 0, help: 'libtorch intra-op threads (default: all cores)' },
  help: { type: 'bool', default: false, help: 'show this help' },
};
const USAGE = 'usage: spark serve --exp_dir DIR [--ckpt FILE] [--port 8765] [--host 127.0.0.1]';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

export async function serveCommand(argv: string[], o: { onListening?: (url: string) => void; stop?: Promise<unknown> } = {}): Promise<number> {
  const { flags: f, positional } = parseArgs(argv, FLAGS);
  if (f.help) { console.log(helpText(USAGE, FLAGS)); return 0; }
  const expDir = (f.exp_dir as string) || positional[0] || '';
  if (!expDir) throw new UsageError(`--exp_dir is required; ${USAGE}`);
  if (!existsSync(expDir) || !statSync(expDir).isDirectory()) throw new UsageError(`--exp_dir ${expDir} is not a folder; pass the folder a run writes to (its --exp_dir)`);
  const port = f.port as number;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be in 0..65535, got ${port}`);
  const mb = f.max_upload_mb as number;
  if (!(mb > 0)) throw new UsageError(`--max_upload_mb must be positive, got ${mb}`);
  if (f.threads as number) setNumThreads(f.threads as number);
  const host = f.host as string;
  const s = await startServer({
    expDir, ckpt: (f.ckpt as string) || undefined, host, port, maxUploadBytes: Math.round(mb * 1024 * 1024), device: f.device as string,
  });
  if (!LOOPBACK.test(host)) {
    process.stderr.write(`[serve] warning: listening on ${host}, not on loopback: anyone who can reach this machine can read ${s.expDir} and run its checkpoints\n`);
  }
  console.log(`[serve] ${s.url}  (exp dir ${s.expDir}; Ctrl-C to stop)`);
  o.onListening?.(s.url);
  await (o.stop ?? new Promise<void>((resolve) => {
    const onSignal = (): void => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); resolve(); };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }));
  await s.close();
  return 0;
}
