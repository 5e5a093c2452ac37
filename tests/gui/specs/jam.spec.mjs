// The Jam in the real window, against a headless friend (earshot-node demo-friend, driven over its
// control protocol), who plays its own album, which the window's library does not hold.
// (a) The window starts a jam and invites the friend from the panel's friend picker: the
// invitation waits with a countdown; the friend gets `jam_invited` and is told `accept_jam`; the
// window lists them as a participant, the window marked host. (c) The shared queue says who added
// what: the window adds a track from its library through Add tracks, the friend adds one of its
// own with `jam_queue_add`, and each entry reads "Added by you" / "Added by Robin (demo friend)";
// the host moves the friend's track up and plays it, and turns guest controls on, which the
// friend sees.
// Leaving (as host: "Robin (demo friend) will host.") offers to save the queue as a playlist,
// named after who was there. An invitation from the friend shows as a notification card with a
// countdown and the side bar's Jam counts it; Join opens the friend's jam. One left unanswered
// disappears from both sides when it expires (the friend's expiry shortened to 8 s).
// (b) Request to Jam from the chat header: "Requested · m:ss" waits until the demo friend accepts
// it by itself (it does, after a second's thought), hosts a jam with what it plays, and the window
// follows: the jam panel opens on "Robin (demo friend) hosts" with the friend's track in the queue.
// There the output offset slider sets +120 ms, which the engine keeps.
// "Invite everyone to a jam" in a group chat's header invites the friend, who accepts by itself;
// the friend's activity menu says "In a jam with Robin" while jamming and asks again after.
// Screenshots of each step.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { byTestId, demoLibrary, eventually, launchApp, screenshot, startDemoFriend, startDriver, tempDataDir, waitForText } from '../harness.mjs';

const text = async (element) => String(await element.getProperty('innerText')).trim();

/** Pastes a friend's invite on the Friends page and confirms it. */
async function addFriend(browser, friend, name) {
  await (await byTestId(browser, 'nav-friends')).click();
  await (await byTestId(browser, 'redeem-input')).setValue(friend.link);
  await (await byTestId(browser, 'redeem-submit')).click();
  await (await byTestId(browser, 'link-add')).click();
  await waitForText(browser, 'link-result', `You and ${name} are now friends.`, 20000);
  await (await byTestId(browser, 'link-close')).click();
}

/**
 * Clicks a button by data-testid the way a user would: scrolled into view, with the player's
 * notice (no sound card under Xvfb), which floats over the page, dismissed first.
 */
async function press(browser, id) {
  const notice = await browser.$('[data-testid="player-message"] button');
  if (await notice.isExisting()) await notice.click();
  const element = await byTestId(browser, id);
  await element.scrollIntoView({ block: 'center' });
  await element.click();
  return element;
}

/** The jam panel's participants and queue as shown. */
const panel = (browser) =>
  browser.execute(() => {
    const all = (id, root = document) => [...root.querySelectorAll(`[data-testid="${id}"]`)];
    const read = (root, id) => root.querySelector(`[data-testid="${id}"]`)?.textContent.trim() ?? null;
    return {
      host: read(document, 'jam-host'),
      participants: all('jam-participant').map((p) => ({ name: read(p, 'jam-participant-name'), host: read(p, 'jam-participant-host') !== null })),
      queue: all('jam-entry').map((e) => ({
        title: read(e, 'jam-entry-title'),
        addedBy: read(e, 'jam-entry-added-by'),
        current: e.getAttribute('aria-current') === 'true',
      })),
    };
  });

/** Waits until the panel satisfies `predicate`; fails showing what it showed last. */
async function waitForPanel(browser, predicate, what, timeout = 20000) {
  let last = null;
  await browser.waitUntil(async () => predicate((last = await panel(browser))), {
    timeout,
    timeoutMsg: `the jam panel never showed ${what} (it showed ${JSON.stringify(last)})`,
  });
  return last;
}

/** Opens the 1:1 chat with `name` from their row on the Friends page. */
async function messageFriend(browser, name) {
  await (await byTestId(browser, 'nav-friends')).click();
  await byTestId(browser, 'friend-row');
  const clicked = await browser.execute((name) => {
    const row = [...document.querySelectorAll('[data-testid="friend-row"]')].find((r) => r.querySelector('[data-testid="friend-name"]')?.textContent === name);
    row?.querySelector('[data-testid="friend-message"]')?.click();
    return Boolean(row);
  }, name);
  assert.ok(clicked, `${name} has a Message button`);
  await waitForText(browser, 'chat-title', name);
}

describe('the Jam', () => {
  let driver;
  let browser;
  let robin;
  let windowPeer;
  const data = tempDataDir();
  const copy = tempDataDir();
  const ROBIN = 'Robin (demo friend)';
  const INVITE_MS = 8000;

  before(async () => {
    const music = path.join(copy.dir, 'music');
    cpSync(demoLibrary(), music, { recursive: true });
    driver = await startDriver();
    // The friend's invitations expire after 8 s instead of two minutes, so one is seen to expire.
    process.env.EARSHOT_JAM_INVITE_MS = String(INVITE_MS);
    try {
      robin = await startDemoFriend();
    } finally {
      delete process.env.EARSHOT_JAM_INVITE_MS;
    }
    browser = await launchApp(driver, data.dir, ['--music', music]);
    await addFriend(browser, robin, ROBIN);
    ({ peer_id: windowPeer } = (await robin.call({ type: 'list_friends' })).friends[0]);
    // The demo friend's album is in its library (and playing) before anything is asked of it.
    await eventually(async () => (await robin.call({ type: 'get_player' })).current !== null, 'the demo friend never started its album', 60000);
  });

  after(async () => {
    await browser?.deleteSession();
    await robin?.stop();
    await driver?.stop();
    data.cleanup();
    copy.cleanup();
  }, { timeout: 30000 });

  it('starts a jam and invites the headless friend, who accepts and shows as a participant', async () => {
    await (await byTestId(browser, 'nav-jam')).click();
    await byTestId(browser, 'jam-intro');
    await screenshot(browser, 'jam-start');
    await press(browser, 'jam-start');
    await waitForText(browser, 'jam-host', 'You host');
    await waitForText(browser, 'nav-jam-badge', 'Live');

    await press(browser, 'jam-invite-friends');
    await byTestId(browser, 'jam-friend-picker');
    const ticked = await browser.execute((name) => {
      const label = [...document.querySelectorAll('[data-testid="jam-friend-picker"] label')].find((l) => l.querySelector('[data-testid="jam-friend-name"]')?.textContent === name);
      label?.querySelector('input')?.click();
      return Boolean(label);
    }, ROBIN);
    assert.ok(ticked, `${ROBIN} is offered in the friend picker`);
    const seen = robin.events.length;
    await press(browser, 'jam-friend-invite');

    // The invitation waits with its countdown, until the friend answers.
    const countdown = await byTestId(browser, 'jam-pending-countdown');
    assert.match(await text(countdown), /^[12]:\d\d$/, 'a two-minute countdown');
    let invited = null;
    await eventually(() => (invited = robin.events.slice(seen).find((e) => e.type === 'jam_invited' && e.incoming)) !== undefined, 'the friend never got jam_invited');
    assert.equal(invited.kind, 'invite');
    assert.equal(invited.peer_id, windowPeer, 'the invitation comes from the window');
    await screenshot(browser, 'jam-invite-pending');
    await robin.call({ type: 'accept_jam', invite_id: invited.invite_id });

    const shown = await waitForPanel(browser, (p) => p.participants.some((x) => x.name === ROBIN), `${ROBIN} as a participant`);
    assert.deepEqual(
      shown.participants.map((p) => [p.name.endsWith('(you)') ? 'you' : p.name, p.host]),
      [['you', true], [ROBIN, false]],
      'the window hosts and the friend is a guest',
    );
    await browser.waitUntil(async () => !(await (await browser.$('[data-testid="jam-pending-invite"]')).isExisting()), {
      timeout: 10000,
      timeoutMsg: 'the answered invitation stayed in the panel',
    });
    const { jam } = await robin.call({ type: 'get_jam' });
    assert.equal(jam?.host_peer_id, windowPeer, 'the friend is in the window’s jam');
    await screenshot(browser, 'jam-friend-joined');
  });

  it('shows in the shared queue who added each track', async () => {
    // The window adds a track of its own library…
    await press(browser, 'jam-add-tracks');
    await byTestId(browser, 'jam-track-picker');
    const option = await byTestId(browser, 'jam-track-option');
    const title = await text(await byTestId(browser, 'jam-track-title'));
    await option.click();
    await press(browser, 'jam-track-add');
    // …and the friend one of its album.
    const { tracks } = await robin.call({ type: 'list_tracks' });
    const theirs = tracks.find((t) => t.path.includes('demo-music'));
    assert.ok(theirs, 'the friend has its album');
    await robin.call({ type: 'jam_queue_add', hashes: [theirs.hash] });

    const shown = await waitForPanel(
      browser,
      (p) => p.queue.some((e) => e.title === title && e.addedBy === 'Added by you') && p.queue.some((e) => e.title === theirs.title && e.addedBy === `Added by ${ROBIN}`),
      `"${title}" added by you and "${theirs.title}" added by ${ROBIN}`,
    );
    assert.ok(shown.queue.some((e) => e.current) || shown.queue.length >= 2, 'the queue is shown');
    await screenshot(browser, 'jam-shared-queue');

    // The host reorders and jumps: the friend's track first, then playing.
    const order = (p) => p.queue.map((e) => e.title).join(' / ');
    const before = shown.queue.map((e) => e.title);
    const theirsAt = before.indexOf(theirs.title);
    await browser.execute((index) => document.querySelectorAll('[data-testid="jam-entry-up"]')[index]?.click(), theirsAt);
    const moved = await waitForPanel(browser, (p) => p.queue[theirsAt - 1]?.title === theirs.title, `"${theirs.title}" moved up`);
    await browser.execute((index) => document.querySelectorAll('[data-testid="jam-entry-play"]')[index]?.click(), theirsAt - 1);
    await waitForPanel(browser, (p) => p.queue.find((e) => e.current)?.title === theirs.title, `"${theirs.title}" playing`);
    await eventually(async () => {
      const { jam } = await robin.call({ type: 'get_jam' });
      return jam?.queue.map((e) => e.title).join(' / ') === order(moved) && jam.queue.find((e) => e.entry_id === jam.current)?.title === theirs.title;
    }, 'the friend never saw the new order and the jump');

    // Guest controls reach the guest.
    await press(browser, 'jam-guest-controls');
    await eventually(async () => (await robin.call({ type: 'get_jam' })).jam?.can_control === true, 'guest controls never reached the friend');
  });

  it('leaving hands the jam to the friend and offers to save the queue as a playlist', async () => {
    await waitForText(browser, 'jam-leave-hint', `${ROBIN} will host.`);
    await press(browser, 'jam-leave');
    await waitForText(browser, 'jam-ended-line', 'You left the jam.');
    await byTestId(browser, 'jam-save');
    await screenshot(browser, 'jam-left-save-offer');
    await eventually(async () => (await robin.call({ type: 'get_jam' })).jam?.you_host === true, 'the friend never became host');
    // The friend ends its jam too, so what follows starts afresh.
    await robin.call({ type: 'leave_jam' });

    const name = await (await byTestId(browser, 'jam-save-name')).getValue();
    assert.match(name, new RegExp(`^Jam with ${ROBIN.replace(/[()]/g, '\\$&')} · `), 'the playlist is named after who was there');
    await press(browser, 'jam-save');
    await waitForText(browser, 'jam-saved', `Saved as the playlist “${name}” in Library, crediting who added each track.`);
  });

  it("an invitation from the friend shows as a card with a countdown, and Join opens the friend's jam", async () => {
    // The friend goes back to its own album, which the window's library does not hold.
    const { tracks } = await robin.call({ type: 'list_tracks' });
    const album = tracks.filter((t) => t.path.includes('demo-music')).map((t) => t.hash);
    await robin.call({ type: 'play', hashes: album });
    await (await byTestId(browser, 'nav-library')).click();
    await robin.call({ type: 'invite_to_jam', peer_ids: [windowPeer] });

    await waitForText(browser, 'jam-invite-card-line', `${ROBIN} invites you to their jam`);
    assert.match(await text(await byTestId(browser, 'jam-invite-countdown')), /^0:0\d$/, 'the friend’s short expiry counting down');
    await waitForText(browser, 'nav-jam-badge', '1');
    await screenshot(browser, 'jam-invitation-card');
    await press(browser, 'jam-invite-accept');
    await waitForText(browser, 'jam-host', `${ROBIN} hosts`);
    await waitForText(browser, 'jam-notice', `Joined ${ROBIN}’s jam`);
    assert.equal(await (await browser.$('[data-testid="jam-invite-card"]')).isExisting(), false, 'the card is gone once answered');
    await waitForText(browser, 'jam-leave-hint', `The jam goes on without you; ${ROBIN} still hosts.`);
    await press(browser, 'jam-leave');
    await waitForText(browser, 'jam-ended-line', 'You left the jam.');
    await robin.call({ type: 'leave_jam' });
  });

  it('an invitation nobody answers disappears from the window and the friend when it expires', async () => {
    await robin.call({ type: 'invite_to_jam', peer_ids: [windowPeer] });
    await byTestId(browser, 'jam-invite-card');
    await byTestId(browser, 'jam-incoming-invite');
    await browser.waitUntil(async () => !(await (await browser.$('[data-testid="jam-invite-card"]')).isExisting()), {
      timeout: INVITE_MS + 10000,
      timeoutMsg: `the card was still shown ${INVITE_MS + 10000} ms after the invitation was sent`,
    });
    assert.equal(await (await browser.$('[data-testid="jam-incoming-invite"]')).isExisting(), false, 'gone from the panel too');
    await eventually(async () => (await robin.call({ type: 'get_jam' })).invites.length === 0, 'the friend still lists the expired invitation');
    await robin.call({ type: 'leave_jam' });
  });

  it('invites everyone in a group chat from its header; the demo friend accepts by itself', async () => {
    await (await byTestId(browser, 'nav-messages')).click();
    await (await byTestId(browser, 'new-group-open')).click();
    await (await byTestId(browser, 'new-group-name')).setValue('Jam club');
    await browser.execute(() => {
      for (const box of document.querySelectorAll('[data-testid="new-group-friend"]')) box.click();
    });
    await (await byTestId(browser, 'new-group-create')).click();
    await waitForText(browser, 'chat-title', 'Jam club');
    await press(browser, 'group-jam-invite');
    await waitForText(browser, 'group-jam-invited', 'Invited · 1 waiting');
    await screenshot(browser, 'jam-group-invited');

    // No one drives the friend here: it accepts the invitation itself, a moment later.
    await eventually(async () => (await robin.call({ type: 'get_jam' })).jam?.host_peer_id === windowPeer, 'the demo friend never joined the group’s jam', 20000);
    await (await byTestId(browser, 'nav-jam')).click();
    await waitForText(browser, 'jam-host', 'You host');
    await waitForPanel(browser, (p) => p.participants.some((x) => x.name === ROBIN), `${ROBIN} as a participant`);
    await press(browser, 'jam-leave');
    await waitForText(browser, 'jam-ended-line', 'You left the jam.');
    await eventually(async () => (await robin.call({ type: 'get_jam' })).jam?.you_host === true, 'the friend never took the jam over');
    await robin.call({ type: 'leave_jam' });
  });

  it('Request to Jam from the chat header: the friend accepts and hosts, and the window follows', async () => {
    await messageFriend(browser, ROBIN);
    await press(browser, 'jam-request');
    const waiting = await byTestId(browser, 'jam-request-waiting');
    assert.match(await text(waiting), /^Requested · [12]:\d\d$/);
    await screenshot(browser, 'jam-request-pending');

    // The demo friend accepts by itself and hosts with what it plays; the window opens the jam.
    await waitForText(browser, 'jam-host', `${ROBIN} hosts`, 20000);
    await waitForText(browser, 'jam-notice', `Joined ${ROBIN}’s jam`);
    const { jam } = await robin.call({ type: 'get_jam' });
    assert.equal(jam?.you_host, true, 'the friend hosts');
    assert.ok(jam.participants.some((p) => p.peer_id === windowPeer), 'the window is in the friend’s jam');
    const playing = jam.queue.find((e) => e.entry_id === jam.current);
    assert.ok(playing, 'the friend’s jam plays what it was playing');
    const shown = await waitForPanel(browser, (p) => p.queue.some((e) => e.title === playing.title && e.current), `the friend's track "${playing.title}" playing`);
    assert.equal(shown.queue.find((e) => e.current)?.addedBy, `Added by ${ROBIN}`);
    await screenshot(browser, 'jam-following-friend');

    // The output offset for a Bluetooth speaker: set by the slider, kept by the engine.
    await browser.execute(() => {
      const slider = document.querySelector('[data-testid="jam-output-offset"]');
      slider.value = '120';
      slider.dispatchEvent(new Event('input', { bubbles: true }));
      slider.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await waitForText(browser, 'jam-output-offset-value', '+120 ms');
    await eventually(async () => (await browser.$('[data-testid="jam-error"]').then((e) => e.isExisting())) === false, 'setting the output offset failed');
    // Leaving the jam page and coming back shows the engine's value, not the slider's own.
    await (await byTestId(browser, 'nav-library')).click();
    await (await byTestId(browser, 'nav-jam')).click();
    await waitForText(browser, 'jam-output-offset-value', '+120 ms');
  });

  it("the friend's activity menu says you jam together, and asks again once you have left", async () => {
    const openMenu = async () => {
      const opened = await browser.execute(() => {
        const button = document.querySelector('[data-testid="sidebar-activity-row"] button');
        button?.click();
        return Boolean(button);
      });
      assert.ok(opened, 'the side bar shows the friend listening');
      await byTestId(browser, 'activity-menu');
    };
    await openMenu();
    await waitForText(browser, 'jam-request-together', `In a jam with ${ROBIN}`);
    await screenshot(browser, 'jam-activity-menu-together');
    await browser.keys('Escape');

    await (await byTestId(browser, 'nav-jam')).click();
    await press(browser, 'jam-leave');
    await waitForText(browser, 'jam-ended-line', 'You left the jam.');
    await robin.call({ type: 'leave_jam' });
    await openMenu();
    const ask = await browser.$('[data-testid="activity-menu"] [data-testid="jam-request"]');
    await ask.waitForDisplayed({ timeout: 10000, timeoutMsg: 'the activity menu offers no Request to Jam' });
    await ask.click();
    // The demo friend accepts; the window follows into its jam from wherever it is.
    await waitForText(browser, 'jam-host', `${ROBIN} hosts`, 20000);
    await waitForText(browser, 'jam-notice', `Joined ${ROBIN}’s jam`);
  });
});
