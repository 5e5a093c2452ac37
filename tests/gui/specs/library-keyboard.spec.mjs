// The Library with the keyboard only (WebDriver key presses, never a click): Tab reaches the
// Library in the sidebar and then the track grid, whose one tab stop moves with the arrow keys,
// Home and End; Enter plays the focused row; Tab reaches the queue button, and the queue it opens
// takes the focus on the playing entry, where the arrows move, Delete removes an entry, Enter
// plays one and Escape closes it, handing the focus back. A private PulseAudio is the sound card
// (harness startPulse), so nothing interrupts with a "no audio output" notice.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Key } from 'webdriverio';
import { byTestId, demoLibrary, launchApp, screenshot, startDriver, startPulse, tempDataDir, waitForText } from '../harness.mjs';

describe('the Library with the keyboard only', () => {
  let driver;
  let browser;
  let pulse;
  const data = tempDataDir();

  /** What has the focus: its test id, index in its list, aria-selected and accessible name. */
  const focused = () =>
    browser.execute(() => {
      const e = document.activeElement;
      return {
        testid: e?.getAttribute('data-testid') ?? null,
        index: e?.getAttribute('data-index') ?? null,
        selected: e?.getAttribute('aria-selected') ?? null,
        label: e?.getAttribute('aria-label') ?? null,
        tag: e?.tagName ?? null,
      };
    });

  /** Presses `key` once. */
  const press = async (key) => {
    await browser.keys([key]);
    // Let the window handle it (focus moves after Svelte's next tick).
    await browser.execute(() => new Promise((resolve) => requestAnimationFrame(() => resolve(null))));
  };

  /** Presses Tab until the focus is on an element with data-testid `id` (at most `limit` times). */
  const tabTo = async (id, limit = 60) => {
    for (let n = 0; n < limit; n++) {
      if ((await focused()).testid === id) return n;
      await press(Key.Tab);
    }
    throw new Error(`Tab never reached [data-testid="${id}"] in ${limit} presses; the focus is on ${JSON.stringify(await focused())}`);
  };

  const rowTitle = (index) =>
    browser.execute((i) => document.querySelector(`[data-testid="track-row"][data-index="${i}"] [data-testid="track-title"]`)?.textContent ?? null, index);

  before(async () => {
    const music = demoLibrary();
    pulse = await startPulse();
    driver = await startDriver(pulse?.env ?? {});
    browser = await launchApp(driver, data.dir, ['--music', music]);
  });

  after(async () => {
    await browser?.deleteSession();
    await driver?.stop();
    await pulse?.stop();
    data.cleanup();
  }, { timeout: 30000 });

  it('reaches the track grid with Tab and moves between rows with the arrows, Home and End', async () => {
    await byTestId(browser, 'nav-library');
    await tabTo('nav-library');
    await press(Key.Enter);
    await byTestId(browser, 'section-library');
    await browser.waitUntil(async () => (await browser.$$('[data-testid="track-row"]')).length === 7, {
      timeout: 30000,
      timeoutMsg: 'the seven demo tracks were never listed',
    });
    // The grid is one tab stop: its first row.
    await tabTo('track-row');
    let now = await focused();
    assert.equal(now.index, '0', 'Tab lands on the first row');
    assert.equal(now.selected, 'true');
    assert.match(now.label ?? '', / by .*, 0:30$/, 'the row is named by its title, artist, album and length');

    await press(Key.ArrowDown);
    await press(Key.ArrowDown);
    now = await focused();
    assert.deepEqual([now.testid, now.index, now.selected], ['track-row', '2', 'true'], 'two rows down');
    const stops = await browser.execute(() => [...document.querySelectorAll('[data-testid="track-row"]')].filter((r) => r.tabIndex === 0).length);
    assert.equal(stops, 1, 'only the focused row is a tab stop');
    await screenshot(browser, 'library-keyboard-row');

    await press(Key.End);
    assert.equal((await focused()).index, '6', 'End goes to the last row');
    await press(Key.Home);
    assert.equal((await focused()).index, '0', 'Home goes to the first row');
    await press(Key.ArrowDown);
    await press(Key.ArrowDown);
    assert.equal((await focused()).index, '2');
  });

  it('plays the focused row with Enter', async () => {
    const title = await rowTitle(2);
    assert.ok(title, 'the third row has a title');
    await press(Key.Enter);
    await waitForText(browser, 'now-playing-title', title, 15000);
    // The whole list was queued, from that row.
    await waitForText(browser, 'queue-toggle', 'Queue (7)', 10000);
    if (pulse) {
      await browser.waitUntil(async () => (await (await byTestId(browser, 'player-toggle')).getAttribute('aria-label')) === 'Pause', {
        timeout: 15000,
        timeoutMsg: 'the window never showed the track playing',
      });
    }
    assert.equal((await focused()).index, '2', 'the focus stays on the row');
  });

  it('opens the queue, removes an entry and plays another, then closes it, all from the keyboard', async () => {
    await tabTo('queue-toggle');
    await press(Key.Enter);
    await byTestId(browser, 'queue-panel');
    await browser.waitUntil(async () => (await focused()).testid === 'queue-entry', { timeout: 5000, timeoutMsg: 'the queue did not take the focus' });
    let now = await focused();
    assert.equal(now.index, '2', 'the focus starts on the playing entry');
    assert.match(now.label ?? '', /^Playing: /);
    await screenshot(browser, 'library-keyboard-queue');

    // Down to the next entry, and Delete removes it; the focus stays in the queue, on what followed.
    await press(Key.ArrowDown);
    now = await focused();
    assert.equal(now.index, '3');
    const removed = (now.label ?? '').replace(/^Play /, '').split(' by ')[0];
    const following = await browser.execute(() => document.querySelector('[data-testid="queue-entry"][data-index="4"]')?.getAttribute('aria-label') ?? '');
    await press(Key.Delete);
    await browser.waitUntil(async () => (await browser.$$('[data-testid="queue-row"]')).length === 6, { timeout: 10000, timeoutMsg: 'Delete did not remove the entry' });
    const titles = await browser.execute(() => [...document.querySelectorAll('[data-testid="queue-entry"] strong')].map((e) => e.textContent));
    assert.ok(!titles.includes(removed), `"${removed}" is still queued: ${titles}`);
    await browser.waitUntil(async () => (await focused()).testid === 'queue-entry', { timeout: 5000, timeoutMsg: 'the focus left the queue after Delete' });
    now = await focused();
    assert.equal(now.index, '3', 'the focus is on the entry that followed');
    assert.equal(now.label, following, 'the entry that followed the removed one');

    // Enter plays the focused entry.
    const next = following.replace(/^Play /, '').split(' by ')[0];
    await press(Key.Enter);
    await waitForText(browser, 'now-playing-title', next, 10000);
    await screenshot(browser, 'library-keyboard-queue-edited');

    // Escape closes the queue and gives the focus back to its button.
    await press(Key.Escape);
    await browser.waitUntil(async () => !(await (await browser.$('[data-testid="queue-panel"]')).isExisting()), { timeout: 5000, timeoutMsg: 'Escape did not close the queue' });
    assert.equal((await focused()).testid, 'queue-toggle');
    await waitForText(browser, 'queue-toggle', 'Queue (6)');
  });
});
