// The first look at the real window: the frame is there, the name set in Settings is saved,
// and it is still there after the app is quit and started again on the same data directory.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byTestId, launchApp, screenshot, startDriver, tempDataDir, waitForText } from '../harness.mjs';

describe('the profile in Settings', () => {
  let driver;
  const data = tempDataDir();

  before(async () => {
    driver = await startDriver();
  });

  after(async () => {
    await driver?.stop();
    data.cleanup();
  }, { timeout: 30000 });

  it('shows the frame with every section and the status line', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      for (const section of ['friends', 'messages', 'library', 'jam', 'settings']) {
        await byTestId(browser, `nav-${section}`);
      }
      await byTestId(browser, 'section-friends');
      const peer = await byTestId(browser, 'peer-id');
      // The peer's fingerprint (`Xy7Q-9kLm`) once the engine's status carries it, else the id shortened.
      await browser.waitUntil(async () => /^Peer ([1-9A-HJ-NP-Za-km-z]{4}-[1-9A-HJ-NP-Za-km-z]{4}|12D3KooW\S+)$/.test(await peer.getText()), {
        timeout: 10000,
        timeoutMsg: 'the status line never showed the peer id',
      });
      assert.match(String(await (await byTestId(browser, 'online-state')).getProperty('innerText')), /Online · 0 friends connected/);
      await screenshot(browser, 'frame-friends');
    } finally {
      await browser.deleteSession();
    }
  });

  it('saves the display name and shows it again after a restart', async () => {
    let browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'nav-settings')).click();
      const input = await byTestId(browser, 'display-name-input');
      await browser.waitUntil(async () => (await input.getValue()) !== '', { timeout: 10000, timeoutMsg: 'the stored name never loaded' });
      await input.clearValue();
      await input.setValue('Ada Lovelace');
      await (await byTestId(browser, 'display-name-save')).click();
      const result = await byTestId(browser, 'display-name-result');
      assert.match(await result.getText(), /Saved/);
      await waitForText(browser, 'profile-name', 'Ada Lovelace');
      await screenshot(browser, 'settings-saved');
    } finally {
      await browser.deleteSession();
    }

    browser = await launchApp(driver, data.dir);
    try {
      await waitForText(browser, 'profile-name', 'Ada Lovelace');
      await (await byTestId(browser, 'nav-settings')).click();
      assert.equal(await (await byTestId(browser, 'display-name-input')).getValue(), 'Ada Lovelace');
      await screenshot(browser, 'settings-after-restart');
    } finally {
      await browser.deleteSession();
    }
  });

  it('explains an invalid name and keeps Save disabled', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'nav-settings')).click();
      const input = await byTestId(browser, 'display-name-input');
      await browser.waitUntil(async () => (await input.getValue()) !== '', { timeout: 10000 });
      await input.clearValue();
      await input.setValue('x'.repeat(70));
      const help = await byTestId(browser, 'display-name-help');
      await browser.waitUntil(async () => /limit is 64/.test(await help.getText()), { timeout: 5000 });
      assert.equal(await (await byTestId(browser, 'display-name-save')).isEnabled(), false);
      await screenshot(browser, 'settings-invalid-name');
    } finally {
      await browser.deleteSession();
    }
  });

  it('explains a bad relay address and saves a good one', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'nav-settings')).click();
      const input = await byTestId(browser, 'relays-input');
      await input.setValue('/ip4/203.0.113.5/tcp/4001');
      await (await byTestId(browser, 'relays-save')).click();
      const result = await byTestId(browser, 'relays-result');
      await browser.waitUntil(async () => /\/p2p\//.test(String(await result.getProperty('innerText'))), {
        timeout: 10000,
        timeoutMsg: 'no explanation for a relay address without a peer id',
      });
      await input.clearValue();
      await input.setValue('/ip4/203.0.113.5/udp/4001/quic-v1/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN');
      await (await byTestId(browser, 'relays-save')).click();
      await browser.waitUntil(async () => /^Saved/.test(String(await result.getProperty('innerText'))), {
        timeout: 10000,
        timeoutMsg: 'a valid relay was not saved',
      });
      await screenshot(browser, 'settings-relays');
    } finally {
      await browser.deleteSession();
    }
  });
});
