// Friends in the real window: make an invite (link and QR code); paste a friend's invite, see who
// it comes from (fingerprint) and that nothing happened yet, confirm, and see them online; a
// damaged invite explained; unfriend after confirming.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byTestId, launchApp, screenshot, startDemoFriend, startDriver, tempDataDir, waitForText } from '../harness.mjs';

const text = async (element) => String(await element.getProperty('innerText')).trim();

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

  it('asks before adding a friend from a pasted invite, then shows them online', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'redeem-input')).setValue(demo.link);
      await (await byTestId(browser, 'redeem-submit')).click();
      await waitForText(browser, 'link-title', 'Add this person as a friend?');
      const fingerprint = await text(await byTestId(browser, 'link-fingerprint'));
      assert.ok(fingerprint.length >= 4, `the inviter's fingerprint is shown (got "${fingerprint}")`);
      await screenshot(browser, 'link-confirm');

      // Nothing has happened yet: no friend on either side.
      assert.equal((await browser.$$('[data-testid="friend-row"]')).length, 0, 'no friend before confirming');
      assert.deepEqual(demo.events.filter((e) => e.type === 'friend_added' || e.type === 'request_received'), [], 'the demo friend heard nothing before confirming');

      await (await byTestId(browser, 'link-add')).click();
      await waitForText(browser, 'link-result', 'You and Robin (demo friend) are now friends.', 20000);
      await (await byTestId(browser, 'link-close')).click();
      await waitForText(browser, 'friend-name', 'Robin (demo friend)');
      assert.equal(await text(await byTestId(browser, 'friend-fingerprint')), fingerprint, 'the friend row shows the same fingerprint');
      const presence = await byTestId(browser, 'friend-presence');
      await browser.waitUntil(async () => /Online/.test(await text(presence)), {
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
      const error = await byTestId(browser, 'link-error');
      await browser.waitUntil(async () => /damaged|cannot be read/.test(await text(error)), {
        timeout: 10000,
        timeoutMsg: 'no explanation for a damaged invite',
      });
      assert.equal((await browser.$$('[data-testid="link-add"]')).length, 0, 'a damaged invite offers nothing to confirm');
      await screenshot(browser, 'friends-bad-invite');
      await (await byTestId(browser, 'link-close')).click();
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
