// Nearby in the real window: a friend who is also on the LAN (found by mDNS) is marked "on your
// network" on their own row and is not listed a second time under Nearby as a stranger.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byTestId, launchApp, screenshot, startDemoFriend, startDriver, tempDataDir, waitForText } from '../harness.mjs';

describe('Nearby', () => {
  let driver;
  let demo;
  const data = tempDataDir();

  before(async () => {
    driver = await startDriver();
    demo = await startDemoFriend({ mdns: true });
  });

  after(async () => {
    await demo?.stop();
    await driver?.stop();
    data.cleanup();
  }, { timeout: 30000 });

  it('lists a friend on the LAN once, marked on their own row', async () => {
    const browser = await launchApp(driver, data.dir, [demo.link]);
    try {
      await (await byTestId(browser, 'link-add', 20000)).click();
      await waitForText(browser, 'link-result', 'You and Robin (demo friend) are now friends.', 20000);
      await (await byTestId(browser, 'link-close')).click();
      await waitForText(browser, 'friend-name', 'Robin (demo friend)');
      await byTestId(browser, 'friend-nearby', 30000);
      assert.equal((await browser.$$('[data-testid="nearby-row"]')).length, 0, 'the friend is not listed again under Nearby');
      await screenshot(browser, 'friends-nearby');
    } finally {
      await browser.deleteSession();
    }
  });
});
