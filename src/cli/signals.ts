// SIGINT/SIGTERM for the training commands: the first signal asks the job to finish its current step,
// save a checkpoint and return (exit 0); a second one exits at once.

/** Run `job` with a stop flag that the first SIGINT/SIGTERM sets; the handlers are removed afterwards. */
export async function withStopSignals<T>(name: string, job: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let stop = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write(`\n[${name}] ${sig}: finishing the current step and saving a checkpoint (send again to quit now)\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await job(() => stop);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
