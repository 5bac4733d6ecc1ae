// A real headless browser for the page's tests and its screenshots: Chromium (Debian's `chromium`,
// which `scripts/setup.sh --test` installs) driven by playwright-core. Missing, it is a skip only where
// it cannot be installed (not root, or no apt); where apt could install it, the test fails and says how.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

export function findChromium(): string | null {
  const env = process.env.SPARKTS_CHROMIUM;
  if (env) return fs.existsSync(env) ? env : null;
  return CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
}

function aptPossible(): boolean {
  if (process.getuid?.() !== 0) return false;
  try { execFileSync('apt-get', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
}

/**
 * The browser's path, or a reason to skip (a string starting 'skip: ') when none is installed and
 * none can be. Throws when one could be installed: then the setup step was skipped, which is a bug.
 */
export function chromiumOrSkip(): { path: string } | { skip: string } {
  const p = findChromium();
  if (p) return { path: p };
  if (aptPossible()) throw new Error('no Chromium found, but apt could install it: run `bash scripts/setup.sh --test` (npm test does), or set SPARKTS_CHROMIUM to a Chromium/Chrome binary');
  return { skip: 'no Chromium found (looked at $SPARKTS_CHROMIUM and /usr/bin/chromium*, google-chrome*) and apt is not usable here (not root or no apt-get): install chromium and rerun' };
}

export async function launchBrowser(executablePath: string): Promise<Browser> {
  // --no-sandbox: Chromium refuses to start as root (CI containers) with its sandbox on; the page is our own local one
  return chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60000 });
}
