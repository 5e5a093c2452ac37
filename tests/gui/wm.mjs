// A window manager and window actions for the desktop specs, under the specs' Xvfb display.
// Xvfb alone has no window manager, and without one nothing can be minimised, activated or
// closed the way a user does it (a close button sends WM_DELETE_WINDOW through the window
// manager). Openbox is small and does all three; xdotool acts on the window like a user would.
// Both come from apt (`openbox`, `xdotool`; ./dev setup installs them).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs xdotool with `args`; resolves with its trimmed output, or fails saying what it printed. */
export function xdotool(...args) {
  const run = spawnSync('xdotool', args.map(String), { encoding: 'utf8' });
  if (run.error) throw new Error(`cannot run xdotool (apt-get install xdotool): ${run.error.message}`);
  if (run.status !== 0) throw new Error(`xdotool ${args.join(' ')} failed (${run.status}): ${run.stderr}`);
  return run.stdout.trim();
}

/**
 * Starts openbox on the display and resolves once it manages windows; `stop()` ends it. Openbox
 * runs its `--startup` command when it is ready, which touches a file we wait for.
 */
export async function startWindowManager() {
  const dir = mkdtempSync(path.join(tmpdir(), 'earshot-wm-'));
  const ready = path.join(dir, 'ready');
  const wm = spawn('openbox', ['--sm-disable', '--startup', `touch ${ready}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => wm.once('exit', resolve));
  wm.once('error', () => {});
  const deadline = Date.now() + 10000;
  while (!existsSync(ready)) {
    if (wm.exitCode !== null || wm.signalCode !== null) throw new Error('openbox exited at start (apt-get install openbox; is DISPLAY set?)');
    if (Date.now() > deadline) throw new Error('openbox did not start within 10 s');
    await sleep(100);
  }
  return {
    async stop() {
      if (wm.exitCode === null && wm.signalCode === null) {
        wm.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pid of the Earshot running on data directory `dataDir` (however it was started), or null. */
export function appPid(dataDir) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args;
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (path.basename(args[0]) !== 'earshot') continue;
    const at = args.indexOf('--data-dir');
    if ((at !== -1 && args[at + 1] === dataDir) || args.includes(`--data-dir=${dataDir}`)) return Number(entry);
  }
  return null;
}

/**
 * The X window id of the visible top-level window titled exactly `title`, waiting for it; with
 * `pid`, only that process's (a window of an Earshot from an earlier test may still be closing).
 */
export async function findWindow(title = 'Earshot', timeoutMs = 15000, pid = undefined) {
  // appPid() gives null when no such process runs: say so instead of searching for pid "null".
  if (pid === null) throw new Error(`no Earshot process to find a window "${title}" of`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const byPid = pid === undefined ? [] : ['--pid', String(pid)];
    const run = spawnSync('xdotool', ['search', ...byPid, '--onlyvisible', '--name', `^${title}$`], { encoding: 'utf8' });
    const ids = run.status === 0 ? run.stdout.trim().split('\n').filter(Boolean) : [];
    if (ids.length > 0) return ids[ids.length - 1];
    if (Date.now() > deadline) throw new Error(`no visible window titled "${title}" within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/**
 * The ICCCM state the window manager gives window `id`: 'Normal', 'Iconic' (minimised) or
 * 'Withdrawn' (hidden, unmapped; also when the manager has removed the property). Uses xprop
 * (x11-utils).
 */
export function wmState(id) {
  const run = spawnSync('xprop', ['-id', String(id), 'WM_STATE'], { encoding: 'utf8' });
  if (run.error) throw new Error(`cannot run xprop (apt-get install x11-utils): ${run.error.message}`);
  const state = /window state:\s*(\w+)/.exec(run.stdout ?? '');
  return state ? state[1] : 'Withdrawn';
}
