// The invites list in the real window: an invite made in the app and used by the demo friend shows
// "Used by Robin" with Robin's fingerprint; revoking it (after confirming) removes it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byTestId, launchApp, screenshot, startDemoFriend, startDriver, tempDataDir } from '../harness.mjs';

const text = async (element) => String(await element.getProperty('innerText')).trim();

describe('the invites list', () => {
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

  it('shows who used an invite, and revoking removes it', async () => {
    const browser = await launchApp(driver, data.dir);
    try {
      await (await byTestId(browser, 'invite-create')).click();
      const input = await byTestId(browser, 'invite-link');
      await browser.waitUntil(async () => (await input.getValue()).startsWith('earshot://invite/'), {
        timeout: 10000,
        timeoutMsg: 'no invite link appeared',
      });
      const link = await input.getValue();
      await byTestId(browser, 'invite-unused');

      // The demo friend uses it, through the control protocol.
      const friend = await demo.call({ type: 'redeem_invite', link });
      assert.equal(friend.type, 'friend');

      const usedBy = await byTestId(browser, 'invite-used-by', 20000);
      await browser.waitUntil(async () => /^Used by Robin \(demo friend\)/.test(await text(usedBy)), {
        timeout: 10000,
        timeoutMsg: `the invite did not say who used it (showed "${await text(usedBy)}")`,
      });
      const fingerprint = await text(await byTestId(browser, 'invite-used-by-fingerprint'));
      assert.ok(fingerprint.length >= 4, `the user's fingerprint is shown (got "${fingerprint}")`);
      await screenshot(browser, 'invites');

      const rows = (await browser.$$('[data-testid="invite-row"]')).length;
      await (await byTestId(browser, 'invite-revoke')).click();
      await byTestId(browser, 'confirm-dialog');
      await (await byTestId(browser, 'confirm-ok')).click();
      try {
        await browser.waitUntil(async () => (await browser.$$('[data-testid="invite-used-by"]')).length === 0, {
          timeout: 10000,
          timeoutMsg: 'the revoked invite was still listed',
        });
      } finally {
        await screenshot(browser, 'invites-after-revoke');
      }
      assert.equal((await browser.$$('[data-testid="invite-row"]')).length, rows - 1, 'exactly the revoked invite is gone');
    } finally {
      await browser.deleteSession();
    }
  });
});
