// Friends in the real window: make an invite (link and QR code), pair with a real demo-friend
// node by pasting its invite, see it online, and unfriend it after confirming.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byTestId, launchApp, screenshot, startDemoFriend, startDriver, tempDataDir, waitForText } from '../harness.mjs';

describe('the Friends page', () => {
  let driver;
  let demo;
  const data = tempDataDir();

  before(async () => {
    driver = await startDriver();
    demo = await startDemoFriend();
  });

  after(async () => {
    await demo?.stop();
    await driver?.stop();
    data.cleanup();
  }, { timeout: 30000 });

  it('creates an invite with a link and a QR code', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'invite-create')).click();
      const link = await byTestId(browser, 'invite-link');
      await browser.waitUntil(async () => (await link.getValue()).startsWith('earshot://invite/'), {
        timeout: 10000,
        timeoutMsg: 'no invite link appeared',
      });
      const qr = await browser.$('[data-testid="invite-card"] svg');
      assert.ok(await qr.isExisting(), 'the QR code is drawn');
      await screenshot(browser, 'friends-invite');
    } finally {
      await browser.deleteSession();
    }
  });

  it('pairs with a friend by pasted invite and shows them online', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      const input = await byTestId(browser, 'redeem-input');
      await input.setValue(demo.link);
      await (await byTestId(browser, 'redeem-submit')).click();
      await waitForText(browser, 'redeem-result', 'You and Robin (demo friend) are now friends.', 20000);
      await waitForText(browser, 'friend-name', 'Robin (demo friend)');
      const presence = await byTestId(browser, 'friend-presence');
      await browser.waitUntil(async () => /Online/.test(String(await presence.getProperty('innerText'))), {
        timeout: 15000,
        timeoutMsg: 'the new friend never showed online',
      });
      await screenshot(browser, 'friends-paired');
    } finally {
      await browser.deleteSession();
    }
  });

  it('explains a damaged invite', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'redeem-input')).setValue('earshot://invite/not-a-real-code');
      await (await byTestId(browser, 'redeem-submit')).click();
      const result = await byTestId(browser, 'redeem-result');
      await browser.waitUntil(async () => /damaged|cannot be read/.test(String(await result.getProperty('innerText'))), {
        timeout: 10000,
        timeoutMsg: 'no explanation for a damaged invite',
      });
      await screenshot(browser, 'friends-bad-invite');
    } finally {
      await browser.deleteSession();
    }
  });

  it('unfriends after confirmation', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await waitForText(browser, 'friend-name', 'Robin (demo friend)');
      await (await byTestId(browser, 'friend-unfriend')).click();
      await byTestId(browser, 'confirm-dialog');
      await screenshot(browser, 'friends-confirm-unfriend');
      await (await byTestId(browser, 'confirm-ok')).click();
      try {
        await browser.waitUntil(async () => (await browser.$$('[data-testid="friend-row"]')).length === 0, {
          timeout: 10000,
          timeoutMsg: 'the friend was still listed after unfriending',
        });
      } finally {
        await screenshot(browser, 'friends-after-unfriend');
      }
    } finally {
      await browser.deleteSession();
    }
  });
});
