// The Library and the player in the real window: the demo library (given with --music, as
// `./dev run` does) is scanned and listed with its covers, search narrows it, and double-clicking a
// track (or pressing its play button) puts it in the now-playing bar and the queue. There is no sound card under Xvfb, so the
// player also says plainly that no audio output could be opened.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byTestId, demoLibrary, launchApp, screenshot, startDriver, tempDataDir, waitForText } from '../harness.mjs';

describe('the Library and the player', () => {
  let driver;
  let browser;
  const data = tempDataDir();

  before(async () => {
    const music = demoLibrary();
    driver = await startDriver();
    browser = await launchApp(driver, data.dir, ['--music', music]);
  });

  after(async () => {
    await browser?.deleteSession();
    await driver?.stop();
    data.cleanup();
  }, { timeout: 30000 });

  it('lists the scanned demo library with its tracks', async () => {
    await (await byTestId(browser, 'nav-library')).click();
    await byTestId(browser, 'section-library');
    await browser.waitUntil(async () => (await browser.$$('[data-testid="track-row"]')).length === 7, {
      timeout: 30000,
      timeoutMsg: 'the seven demo tracks were never listed',
    });
    const titles = await browser.execute(() => [...document.querySelectorAll('[data-testid="track-title"]')].map((e) => e.textContent));
    assert.ok(titles.includes('Low Tide') && titles.includes('Paper Boats'), `titles: ${titles}`);
    // Covers are drawn for the tracks that have them.
    await browser.waitUntil(async () => (await browser.$$('[data-testid="track-row"] img')).length >= 7, {
      timeout: 10000,
      timeoutMsg: 'the covers never appeared',
    });
    await screenshot(browser, 'library-tracks');
  });

  it('narrows the list as you search', async () => {
    await (await byTestId(browser, 'library-search')).setValue('gulls');
    await browser.waitUntil(async () => (await browser.$$('[data-testid="track-row"]')).length === 1, {
      timeout: 10000,
      timeoutMsg: 'searching "gulls" did not narrow the list to one track',
    });
    await waitForText(browser, 'track-title', 'Gulls');
    await screenshot(browser, 'library-search');
  });

  it('puts a played track in the now-playing bar and the queue', async () => {
    await (await byTestId(browser, 'track-play')).click();
    await waitForText(browser, 'now-playing-title', 'Gulls', 15000);
    await waitForText(browser, 'now-playing-artist', 'The Earshots');
    // No sound card here: the player explains instead of failing silently.
    const message = await byTestId(browser, 'player-message', 15000);
    assert.match(String(await message.getProperty('innerText')), /No audio output could be opened|Cannot play/);
    await (await byTestId(browser, 'queue-toggle')).click();
    await browser.waitUntil(async () => (await browser.$$('[data-testid="queue-row"]')).length === 1, {
      timeout: 5000,
      timeoutMsg: 'the queue does not show the track',
    });
    await screenshot(browser, 'library-now-playing');
  });
});
