// earshot:// links given to the app: on the command line, and handed over by a second `earshot`
// process while the window runs (the single-instance plugin, over a private D-Bus session bus).
// Each one asks first; nothing happens until the user confirms. A second process on another data
// directory is not handed over: it runs on its own. A window manager (openbox) runs, so the window
// can be minimised, and brought back by the handover, as on a desktop.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  byTestId,
  eventually,
  launchApp,
  runApp,
  screenshot,
  startApp,
  startDemoFriend,
  startDriver,
  startSessionBus,
  tempDataDir,
  waitForText,
} from '../harness.mjs';
import { appPid, findWindow, startWindowManager, xdotool } from '../wm.mjs';

const text = async (element) => String(await element.getProperty('innerText')).trim();

/** The main window's state, as Tauri and the page see it. */
const windowState = (browser) =>
  browser.execute(async () => {
    const invoke = window.__TAURI_INTERNALS__.invoke;
    return {
      minimized: await invoke('plugin:window|is_minimized', { label: 'main' }),
      visible: await invoke('plugin:window|is_visible', { label: 'main' }),
      focused: await invoke('plugin:window|is_focused', { label: 'main' }),
      pageShown: document.visibilityState === 'visible',
      pageFocused: document.hasFocus(),
    };
  });

describe('links ask before they act', () => {
  let wm;
  let bus;
  let driver;
  let demo;
  const dirs = [];
  const dataDir = () => {
    const data = tempDataDir();
    dirs.push(data);
    return data.dir;
  };

  before(async () => {
    wm = await startWindowManager();
    bus = await startSessionBus();
    driver = await startDriver({ DBUS_SESSION_BUS_ADDRESS: bus.address });
    demo = await startDemoFriend();
  });

  after(async () => {
    await demo?.stop();
    await driver?.stop();
    await bus?.stop();
    await wm?.stop();
    for (const data of dirs) data.cleanup();
  }, { timeout: 30000 });

  const friendEvents = () => demo.events.filter((e) => e.type === 'friend_added' || e.type === 'request_received');

  /** With the dialog open: no friend yet and nothing reached the demo friend (which had heard
   * `heard` events before); then Add friend, and Robin is a friend. */
  const nothingYetThenConfirm = async (browser, heard, shot) => {
    assert.equal((await browser.$$('[data-testid="friend-row"]')).length, 0, 'no friend before confirming');
    assert.equal(friendEvents().length, heard, 'the demo friend heard nothing before confirming');
    await screenshot(browser, shot);
    await (await byTestId(browser, 'link-add')).click();
    await waitForText(browser, 'link-result', 'You and Robin (demo friend) are now friends.', 20000);
    await (await byTestId(browser, 'link-close')).click();
    await waitForText(browser, 'friend-name', 'Robin (demo friend)');
  };

  it('a link on the command line opens a confirmation, and adds the friend only when confirmed', async () => {
    const browser = await launchApp(driver, dataDir(), [demo.link]);
    try {
      await waitForText(browser, 'link-title', 'Add this person as a friend?', 20000);
      const fingerprint = await text(await byTestId(browser, 'link-fingerprint'));
      assert.ok(fingerprint.length >= 4, `the inviter's fingerprint is shown (got "${fingerprint}")`);
      await nothingYetThenConfirm(browser, 0, 'link-confirm-start');
    } finally {
      await browser.deleteSession();
    }
  });

  it('a link given to a second earshot brings the minimised window forward, which asks to confirm; the second process exits 0', async () => {
    const dir = dataDir();
    const env = { DBUS_SESSION_BUS_ADDRESS: bus.address };
    // The first invite was used above; a new peer needs a new one.
    const invite = await demo.call({ type: 'create_invite' });
    const before = friendEvents().length;
    const browser = await launchApp(driver, dir);
    try {
      await byTestId(browser, 'section-friends');
      // Minimised, as a user leaves a window before clicking an invite in the browser.
      xdotool('windowminimize', '--sync', await findWindow('Earshot', 15000, appPid(dir)));
      await eventually(async () => (await windowState(browser)).minimized, 'the window never minimised');
      const away = await windowState(browser);
      assert.equal(away.focused, false, `a minimised window has no focus (${JSON.stringify(away)})`);

      const second = await runApp(['--data-dir', dir, invite.link], env);
      assert.equal(second.code, 0, `the second earshot exits 0 (stderr: ${second.stderr})`);

      const expected = { minimized: false, visible: true, focused: true, pageShown: true, pageFocused: true };
      let state;
      try {
        await eventually(async () => isDeepStrictEqual((state = await windowState(browser)), expected), 'the window did not come forward');
      } catch {
        assert.deepEqual(state, expected, 'the window comes forward: un-minimised, shown and focused');
      }
      await waitForText(browser, 'link-title', 'Add this person as a friend?', 20000);
      await nothingYetThenConfirm(browser, before, 'link-confirm-handover');
    } finally {
      await browser.deleteSession();
    }
  });

  it('an earshot on another data directory runs on its own instead of handing over', async () => {
    const running = dataDir();
    const other = dataDir();
    const browser = await launchApp(driver, running);
    const second = startApp(['--data-dir', other], { DBUS_SESSION_BUS_ADDRESS: bus.address });
    try {
      await byTestId(browser, 'section-friends');
      // The engine takes the directory's lock only after the single-instance check let it run.
      await eventually(() => existsSync(path.join(other, 'earshot.lock')) || second.child.exitCode !== null, 'the second earshot neither started nor exited', 30000);
      assert.equal(second.child.exitCode, null, 'the earshot on another data directory keeps running');
    } finally {
      await second.stop();
      await browser.deleteSession();
    }
  });
});
