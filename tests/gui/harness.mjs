// Drives the real Earshot window: starts tauri-driver (which starts WebKitWebDriver, which starts
// the app), opens a WebDriver session with WebdriverIO, and saves screenshots under
// target/gui-screenshots/. Run under a display (the test command wraps it in xvfb-run).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { remote } from 'webdriverio';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../..');
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(repoRoot, 'target');
/** The app binary under test: a debug build with the UI embedded (default feature custom-protocol). */
export const appBinary = process.env.EARSHOT_APP ?? path.join(targetDir, 'debug', 'earshot');
export const nodeBinary = path.join(targetDir, 'debug', 'earshot-node');
export const screenshotDir = path.join(repoRoot, 'target', 'gui-screenshots');

/** A free TCP port on loopback. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`tauri-driver did not listen on port ${port} within ${timeoutMs} ms`);
}

/**
 * Ends a child process: SIGTERM, then SIGKILL if it has not exited within 5 s (saying so, since a
 * process that ignores SIGTERM is a bug worth seeing). Never hangs the suite.
 */
async function stopProcess(child, name, exited = undefined) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited ?? new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timedOut = await Promise.race([gone.then(() => false), new Promise((r) => setTimeout(() => r(true), 5000))]);
  if (timedOut) {
    console.error(`# ${name} did not stop within 5 s of SIGTERM; killing it`);
    child.kill('SIGKILL');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
  }
}

/**
 * Starts tauri-driver on free ports; returns it with a stop() that ends it. `env` is added to the
 * driver's environment, which the app it launches inherits.
 */
export async function startDriver(env = {}) {
  const port = await freePort();
  const nativePort = await freePort();
  const driver = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, ...env },
  });
  const exited = new Promise((resolve) => driver.once('exit', resolve));
  driver.once('error', (e) => {
    throw new Error(`cannot start tauri-driver (install it with: cargo install tauri-driver --locked): ${e.message}`);
  });
  await waitForPort(port, 15000);
  return {
    port,
    async stop() {
      await stopProcess(driver, 'tauri-driver', exited);
    },
  };
}

/** Launches the app on `dataDir` through the driver and returns the WebdriverIO browser. */
export async function launchApp(driver, dataDir, extraArgs = []) {
  const browser = await remote({
    hostname: '127.0.0.1',
    port: driver.port,
    logLevel: 'error',
    connectionRetryTimeout: 60000,
    capabilities: {
      // WebKitWebDriver speaks classic WebDriver only; WebdriverIO 9 asks for BiDi unless told.
      'wdio:enforceWebDriverClassic': true,
      'tauri:options': { application: appBinary, args: ['--data-dir', dataDir, ...extraArgs] },
    },
  });
  return browser;
}

/**
 * Saves a screenshot as target/gui-screenshots/<name>.png, after the next frame is painted.
 *
 * WebKitWebDriver captures the window at its next paint. Without a GPU the app draws without
 * compositing (src-tauri/src/rendering.rs), and then a window that was hidden (to the tray) and
 * shown again is not painted until something on the page changes: the screenshot would wait for
 * ever, though the window shows the page. So while the screenshot is taken, a transparent pixel in
 * a corner moves every frame, which repaints that pixel and nothing visible.
 */
export async function screenshot(browser, name) {
  mkdirSync(screenshotDir, { recursive: true });
  // A screenshot right after a DOM change can show the previous frame.
  await browser.execute(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  await new Promise((r) => setTimeout(r, 300));
  const file = path.join(screenshotDir, `${name}.png`);
  await browser.execute(() => {
    const pixel = document.createElement('div');
    pixel.id = 'screenshot-repaint';
    pixel.style.cssText = 'position:fixed;left:0;top:0;width:1px;height:1px;background:transparent;pointer-events:none';
    document.body.append(pixel);
    let odd = false;
    const step = () => {
      if (!pixel.isConnected) return;
      odd = !odd;
      pixel.style.left = odd ? '1px' : '0';
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  try {
    await browser.saveScreenshot(file);
  } finally {
    await browser.execute(() => document.getElementById('screenshot-repaint')?.remove()).catch(() => {});
  }
  return file;
}

/** A fresh data directory, removed by the returned cleanup. */
export function tempDataDir() {
  const dir = mkdtempSync(path.join(tmpdir(), 'earshot-gui-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Finds the element with data-testid `id`, waiting for it to be displayed. */
export async function byTestId(browser, id, timeout = 15000) {
  const element = await browser.$(`[data-testid="${id}"]`);
  await element.waitForDisplayed({ timeout, timeoutMsg: `[data-testid="${id}"] was not shown within ${timeout} ms` });
  return element;
}

/** Waits until the element with data-testid `id` shows exactly `expected`; fails saying what it showed. */
export async function waitForText(browser, id, expected, timeout = 10000) {
  const element = await byTestId(browser, id, timeout);
  let last = '';
  try {
    // innerText, not getText(): WebKitWebDriver's text atom returns "" for a span inside a <button>.
    await browser.waitUntil(async () => (last = String(await element.getProperty('innerText')).trim()) === expected, { timeout });
  } catch {
    throw new Error(`[data-testid="${id}"] showed "${last}", expected "${expected}"`);
  }
}

/**
 * Starts `earshot-node demo-friend` on its own data directory and resolves with
 * its invite link and peer id; `call(request)` sends it a control-protocol request and resolves
 * with the `ok` answer; `events` lists the events it has printed so far; `stop()` ends it.
 */
export async function startDemoFriend({ mdns = false } = {}) {
  const data = tempDataDir();
  // Loopback only and, unless asked, no LAN discovery: the specs pair by invite.
  const net = mdns ? ['--listen', '/ip4/0.0.0.0/tcp/0'] : ['--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'];
  const child = spawn(nodeBinary, ['--data-dir', data.dir, ...net, 'demo-friend'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events = [];
  const replies = new Map();
  let nextId = 1;
  let buffered = '';
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the demo friend printed no invite within 15 s')), 15000);
    child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          continue;
        }
        if (message.demo_invite) {
          clearTimeout(timer);
          resolve({ link: message.demo_invite, peerId: message.peer_id });
        } else if (message.event) {
          events.push(message.event);
        } else if (replies.has(message.id)) {
          const { resolve: answer, reject: refuse } = replies.get(message.id);
          replies.delete(message.id);
          if (message.ok) answer(message.ok);
          else refuse(new Error(`the demo friend refused: ${JSON.stringify(message.err)}`));
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`the demo friend exited with ${code}`)));
  });
  const { link, peerId } = await started;
  return {
    link,
    peerId,
    events,
    call(request) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        replies.set(id, { resolve, reject });
        child.stdin.write(`${JSON.stringify({ id, call: request })}\n`);
      });
    },
    async stop() {
      await stopProcess(child, 'the demo friend');
      child.stdout.destroy();
      data.cleanup();
    },
  };
}

/** The project's demo library (generated once per run into target/demo/music by tools/make-demo-library). */
export function demoLibrary() {
  const dir = path.join(repoRoot, 'target', 'demo', 'music');
  const made = spawnSync(path.join(repoRoot, 'tools', 'make-demo-library'), [dir], { stdio: 'inherit' });
  if (made.status !== 0) throw new Error('tools/make-demo-library failed (is ffmpeg installed?)');
  return dir;
}

/**
 * Starts a private D-Bus session bus (dbus-daemon) for the app's single-instance handover, which
 * finds the running Earshot by a name on the session bus; `address` goes in
 * DBUS_SESSION_BUS_ADDRESS, `stop()` ends the bus.
 */
export async function startSessionBus() {
  const daemon = spawn('dbus-daemon', ['--session', '--nofork', '--nopidfile', '--print-address=1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => daemon.once('exit', resolve));
  const address = await new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error('dbus-daemon printed no address within 10 s')), 10000);
    daemon.once('error', (e) => reject(new Error(`cannot start dbus-daemon (apt-get install dbus): ${e.message}`)));
    daemon.stdout.on('data', (chunk) => {
      buffered += chunk;
      const line = buffered.split('\n')[0];
      if (buffered.includes('\n') && line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
  });
  return {
    address,
    async stop() {
      await stopProcess(daemon, 'dbus-daemon', exited);
    },
  };
}

/**
 * Runs the app binary directly (not through the driver) and resolves with its exit code and
 * output once it exits; fails if it is still running after `timeoutMs`. `env` is added to the
 * environment.
 */
export function runApp(args, env = {}, timeoutMs = 60000) {
  const child = spawn(appBinary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`earshot ${args.join(' ')} was still running after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once('error', (e) => (clearTimeout(timer), reject(e)));
    child.once('exit', (code, signal) => (clearTimeout(timer), resolve({ code, signal, stdout, stderr })));
  });
}

/**
 * Starts the app binary directly and returns the child process, with `stop()` (SIGTERM, then
 * SIGKILL after 5 s) for the caller to end it.
 */
export function startApp(args, env = {}) {
  const child = spawn(appBinary, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, exited, stop: () => stopProcess(child, 'earshot', exited) };
}

/** Waits until `predicate()` is true, polling every 100 ms; fails with `message` after `timeoutMs`. */
export async function eventually(predicate, message, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Starts a private PulseAudio with one stereo 48 kHz null sink, "out", so the app really plays
 * (as tests/audio/main.rs does for the engine): `env` (PULSE_SERVER, PULSE_RUNTIME_PATH, and
 * XDG_CONFIG_HOME with an asoundrc that makes ALSA's default device the pulse plugin, which is
 * what cpal opens) goes to the driver, so the app it launches plays into "out". A low-latency
 * recorder on the sink's monitor runs from the start: an idle null sink renders 2 s ahead and
 * stalls new streams, a recorder keeps it rendering in small blocks; `rms(seconds)` is the
 * loudness of what the sink played in the last `seconds`. `stop()` ends both and removes the
 * directory. Without pulseaudio/pactl/parecord it returns null and says why, and under CI it
 * fails instead.
 */
export async function startPulse() {
  const missing = ['pulseaudio', 'pactl', 'parecord'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (missing.length > 0) {
    const reason = `${missing.join(', ')} not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)`;
    if (process.env.CI) throw new Error(`a GUI spec needs a sound server: ${reason}`);
    console.error(`# no sound server for the window: ${reason}`);
    return null;
  }
  const RATE = 48000;
  const root = mkdtempSync(path.join(tmpdir(), 'earshot-gui-pulse-'));
  for (const sub of ['home', 'runtime', 'state', 'xdg/alsa']) mkdirSync(path.join(root, sub), { recursive: true });
  const socket = path.join(root, 'runtime', 'native');
  writeFileSync(
    path.join(root, 'default.pa'),
    `load-module module-native-protocol-unix socket=${socket} auth-anonymous=1\n` +
      `load-module module-null-sink sink_name=out rate=${RATE} channels=2 format=float32le sink_properties=device.description=earshot-gui-test\n` +
      'set-default-sink out\n',
  );
  // The sink's rate everywhere, so nothing is resampled behind the test's back.
  writeFileSync(path.join(root, 'daemon.conf'), `exit-idle-time = -1\nflat-volumes = no\ndefault-sample-rate = ${RATE}\nalternate-sample-rate = ${RATE}\n`);
  writeFileSync(path.join(root, 'xdg', 'alsa', 'asoundrc'), 'pcm.!default { type pulse }\nctl.!default { type pulse }\n');
  const serverEnv = { ...process.env, HOME: path.join(root, 'home'), XDG_RUNTIME_DIR: path.join(root, 'runtime'), PULSE_RUNTIME_PATH: path.join(root, 'runtime'), PULSE_STATE_PATH: path.join(root, 'state'), PULSE_CONFIG: path.join(root, 'daemon.conf') };
  delete serverEnv.DBUS_SESSION_BUS_ADDRESS;
  delete serverEnv.DISPLAY;
  const server = spawn('pulseaudio', ['-n', '-F', path.join(root, 'default.pa'), '--daemonize=no', '--exit-idle-time=-1', '--disallow-exit', '--log-target=stderr'], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: serverEnv,
  });
  const serverExited = new Promise((resolve) => server.once('exit', resolve));
  const env = { PULSE_SERVER: `unix:${socket}`, PULSE_RUNTIME_PATH: path.join(root, 'runtime'), XDG_CONFIG_HOME: path.join(root, 'xdg') };
  const clientEnv = { ...process.env, ...env };
  let recorder = null;
  let recorderExited = null;
  const stop = async () => {
    if (recorder) await stopProcess(recorder, 'parecord', recorderExited);
    await stopProcess(server, 'pulseaudio', serverExited);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    // Generous: a loaded machine can take seconds to start a server; only one that never answers fails.
    await eventually(() => existsSync(socket) && spawnSync('pactl', ['info'], { env: clientEnv }).status === 0, 'pulseaudio did not come up within 30 s', 30000);
    // The last second the sink played, interleaved stereo float32; `filled` counts samples seen.
    const ring = new Float32Array(RATE * 2 * 2);
    let filled = 0;
    let leftover = Buffer.alloc(0);
    recorder = spawn('parecord', ['--raw', '--format=float32le', '--channels=2', `--rate=${RATE}`, '--latency-msec=5', '--device=out.monitor'], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: clientEnv,
    });
    recorderExited = new Promise((resolve) => recorder.once('exit', resolve));
    recorder.stdout.on('data', (chunk) => {
      const bytes = leftover.length > 0 ? Buffer.concat([leftover, chunk]) : chunk;
      const whole = bytes.length - (bytes.length % 4);
      for (let at = 0; at < whole; at += 4) ring[filled++ % ring.length] = bytes.readFloatLE(at);
      leftover = bytes.subarray(whole);
    });
    // Let the recorder settle the sink into small blocks before anything plays.
    await new Promise((r) => setTimeout(r, 2500));
    return {
      env,
      /** Root mean square of the last `seconds` (≤ 2) the sink played; 0 for silence. */
      rms(seconds = 1) {
        const count = Math.min(filled, Math.round(seconds * RATE * 2), ring.length);
        let sum = 0;
        for (let k = 1; k <= count; k++) {
          const s = ring[(filled - k) % ring.length];
          sum += s * s;
        }
        return count === 0 ? 0 : Math.sqrt(sum / count);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
