import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { appendMessages } from '../../core/messages/messages.ts';
import { uniqueName } from '../../test/support.ts';
import {
  clickMessageAction,
  login,
  membersPanel,
  openPerson,
  openRoom,
  register,
  roomLink,
  screenshotAll,
  send,
  startHarness,
  unreadBadge,
  waitForMessage,
  type Harness,
  type Person,
} from './support.ts';

/** Live updates come in well under this; the old room list polled every 30 s. */
const LIVE_MS = 10_000;

/**
 * Rooms that feel alive (issue 13), in real browsers: the room list follows the user's
 * channel (rooms added, renamed, removed, new activity) with the server's unread counts, the
 * same on every device; read receipts; search that jumps into history; owners renaming and
 * removing; direct rooms. Bob uses two devices (two browser profiles, one account).
 */
describe('web client, rooms that feel alive', () => {
  let h: Harness;
  let alice: Person;
  let bob: Person;
  let bob2: Person;
  const aliceName = uniqueName('alice');
  const bobName = uniqueName('bob');
  const roomName = `Live ${aliceName.slice(-4)}`;
  const renamed = `${roomName} renamed`;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const screenshotOnFailure = () => onTestFailed(({ task }) => screenshotAll(h, task.name));

  it('explains what is wrong with a new account in words, then registers', async () => {
    screenshotOnFailure();
    alice = await openPerson(h, 'alice');
    const { page } = alice;
    await page.getByRole('button', { name: 'New here? Create an account' }).click();
    await page.getByLabel('Username').fill('no spaces!');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const error = page.getByRole('alert');
    await error.getByText('Usernames may use only letters A–Z, digits').waitFor();
    await expect.poll(() => error.textContent()).toContain('(not spaces, “!”)');
    await expect.poll(() => error.textContent()).toContain('Passwords need at least 8 characters');
    expect(await page.getByLabel('Username').getAttribute('aria-invalid')).toBe('true');
    // Nothing was sent: still on the form.
    expect(await page.getByTestId('whoami').count()).toBe(0);
    await page.getByRole('button', { name: 'Already have an account? Log in' }).click();

    await register(alice, aliceName);
    bob = await openPerson(h, 'bob');
    await register(bob, bobName);
    bob2 = await openPerson(h, 'bob-phone');
    await login(bob2, bobName);
  });

  it('B sees the room appear live when A adds them (both of B’s devices)', async () => {
    screenshotOnFailure();
    await alice.page.getByLabel('New room').fill(roomName);
    await alice.page.getByRole('button', { name: 'Create' }).click();
    await alice.page.getByRole('heading', { name: roomName, level: 2 }).waitFor();
    const panel = await membersPanel(alice);
    await panel.getByLabel('Add a member by username').fill(bobName);
    await panel.getByRole('button', { name: 'Add' }).click();
    await panel.getByText(`${bobName} is a member.`).waitFor();

    // No refresh, no reload: room_added on the user's channel.
    await roomLink(bob, roomName).waitFor({ timeout: LIVE_MS });
    await roomLink(bob2, roomName).waitFor({ timeout: LIVE_MS });
  });

  it('counts unread live, and the count on another device goes to 0 when read on the first', async () => {
    screenshotOnFailure();
    for (const text of ['one', 'two', 'three']) await send(alice, text);
    await waitForMessage(alice, 'three');

    // Neither of Bob's devices has the room open: `activity` bumps the server-backed count.
    await expect.poll(() => unreadBadge(bob, roomName), { timeout: LIVE_MS }).toBe(3);
    await expect.poll(() => unreadBadge(bob2, roomName), { timeout: LIVE_MS }).toBe(3);

    // Bob reads on his first device: the second device follows (read_state), and so does a reload.
    await openRoom(bob, roomName);
    await waitForMessage(bob, 'three');
    await expect.poll(() => unreadBadge(bob2, roomName), { timeout: LIVE_MS }).toBe(0);
    await bob2.page.reload();
    await roomLink(bob2, roomName).waitFor();
    expect(await unreadBadge(bob2, roomName)).toBe(0);
    // The server's list carries the last message: the preview.
    expect(await roomLink(bob2, roomName).locator('.room-preview').textContent()).toBe(`${aliceName}: three`);

    // Alice sees the receipt under her last message.
    await expect
      .poll(() => alice.page.getByTestId('seen-by').textContent(), { timeout: LIVE_MS })
      .toBe(`Seen by ${bobName}`);
  });

  it('tells "here" (in this room) from "online" (connected elsewhere)', async () => {
    screenshotOnFailure();
    await openRoom(bob, roomName);
    const panel = await membersPanel(alice);
    const bobRow = panel.locator(`.member[data-user-id]`, { hasText: bobName });
    await expect.poll(() => bobRow.getAttribute('data-state'), { timeout: LIVE_MS }).toBe('here');
    // Bob's first device leaves the room view; his phone is still connected.
    await bob.page.evaluate(() => {
      location.hash = '';
    });
    await expect.poll(() => bobRow.getAttribute('data-state'), { timeout: LIVE_MS }).toBe('online');
    await openRoom(bob, roomName);
    await expect.poll(() => bobRow.getAttribute('data-state'), { timeout: LIVE_MS }).toBe('here');
  });

  it('lets the owner delete someone else’s message', async () => {
    screenshotOnFailure();
    await send(bob, 'bob says something regrettable');
    await waitForMessage(alice, 'bob says something regrettable');
    const item = alice.page.locator('li.msg', { hasText: 'bob says something regrettable' });
    await clickMessageAction(item, 'Delete');
    await item.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await bob.page.locator('li.msg.deleted .msg-tombstone').first().waitFor({ timeout: LIVE_MS });
    // Bob is not the owner: Alice's messages offer him no delete.
    const hers = bob.page.locator('li.msg', { hasText: 'three' });
    await hers.hover();
    expect(await hers.getByRole('button', { name: 'Delete' }).count()).toBe(0);
  });

  it('renames the room for every member at once; only the owner may', async () => {
    screenshotOnFailure();
    expect(await bob.page.getByRole('button', { name: 'Rename' }).isVisible()).toBe(false);
    await alice.page.getByRole('button', { name: 'Rename' }).click();
    await alice.page.getByLabel('Room name').fill(renamed);
    await alice.page.getByRole('button', { name: 'Save' }).click();
    await alice.page.getByRole('heading', { name: renamed, level: 2 }).waitFor();
    await bob.page.getByRole('heading', { name: renamed, level: 2 }).waitFor({ timeout: LIVE_MS });
    await roomLink(bob2, renamed).waitFor({ timeout: LIVE_MS });
  });

  it('finds an old message and jumps to it, loading the history around it', async () => {
    screenshotOnFailure();
    const roomId = (await alice.page.evaluate(() => location.hash)).replace('#room/', '');
    const me = await alice.context.request.get('/api/auth/me');
    const { user } = (await me.json()) as { user: { id: string; username: string } };
    const draft = (text: string) => ({
      userId: user.id,
      name: user.username,
      text,
      clientMsgId: null,
      attachmentId: null,
    });
    const needle = 'the haystack hides a needle';
    const results = await appendMessages(h.server.services.db, decodeURIComponent(roomId), [
      draft('just before the needle'),
      draft(needle),
      ...Array.from({ length: 400 }, (_, i) => draft(`filler ${i + 1}`)),
    ]);
    expect(results.every((r) => r.ok)).toBe(true);

    // Bob's phone has the room closed; the newest page will not hold the needle.
    const search = bob2.page.getByRole('searchbox', { name: 'Search messages' });
    await search.fill('haystack need'); // the last word as a prefix
    await search.press('Enter');
    const results2 = bob2.page.getByRole('region', { name: 'Search results' });
    const hit = results2.getByRole('button', { name: new RegExp(needle) });
    await hit.waitFor({ timeout: LIVE_MS });
    expect(await results2.getByRole('button').filter({ hasText: 'filler' }).count()).toBe(0);
    await hit.click();

    await bob2.page.getByRole('heading', { name: renamed, level: 2 }).waitFor();
    const target = bob2.page.locator('li.msg.highlight', { hasText: needle });
    await target.waitFor({ timeout: LIVE_MS });
    expect(await target.isVisible()).toBe(true);
    // 400 messages back: shown with the history around it (beforeSeq/afterSeq pages), not by
    // paging the whole timeline down to it.
    const around = bob2.page.locator('.history-window');
    await around.locator('li.msg', { hasText: 'just before the needle' }).waitFor();
    await around.locator('li.msg .msg-text', { hasText: /^filler 1$/ }).waitFor();
    expect(await around.locator('li.msg', { hasText: 'filler 400' }).count()).toBe(0);
    await around.getByRole('button', { name: 'Back to the latest' }).click();
    await waitForMessage(bob2, 'filler 400');
    expect(await around.count()).toBe(0);
  });

  it('opens a direct room from "Message <user>", and it appears live on the other side', async () => {
    screenshotOnFailure();
    const panel = await membersPanel(alice);
    await panel.getByRole('button', { name: `Message ${bobName}` }).click();
    await alice.page.getByRole('heading', { name: bobName, level: 2 }).waitFor();
    // A direct room is listed by the other person's name.
    await roomLink(bob2, `@ ${aliceName}`).waitFor({ timeout: LIVE_MS });
    await send(alice, 'psst');
    await expect.poll(() => unreadBadge(bob2, `@ ${aliceName}`), { timeout: LIVE_MS }).toBe(1);
    // The same room the second time, whichever of the two asks.
    const before = await alice.page.evaluate(() => location.hash);
    const bobPanel = await membersPanel(bob2);
    await bobPanel.getByRole('button', { name: `Message ${aliceName}` }).click();
    await bob2.page.getByRole('heading', { name: aliceName, level: 2 }).waitFor();
    expect(await bob2.page.evaluate(() => location.hash)).toBe(before);
    await waitForMessage(bob2, 'psst');
  });

  it('removes a member: the room leaves their list live, with a word if it was open', async () => {
    screenshotOnFailure();
    await roomLink(alice, renamed).click();
    await alice.page.getByRole('heading', { name: renamed, level: 2 }).waitFor();
    await roomLink(bob, renamed).click();
    await bob.page.getByRole('heading', { name: renamed, level: 2 }).waitFor();
    const panel = await membersPanel(alice);
    alice.page.once('dialog', (d) => void d.accept());
    await panel.getByRole('button', { name: `Remove ${bobName}` }).click();
    await panel.getByText(`${bobName} was removed.`).waitFor();

    await bob.page.getByText('You are no longer a member of that room.').waitFor({ timeout: LIVE_MS });
    await roomLink(bob, renamed).waitFor({ state: 'detached', timeout: LIVE_MS });
    await roomLink(bob2, renamed).waitFor({ state: 'detached', timeout: LIVE_MS });
    // The direct room stays.
    expect(await roomLink(bob, `@ ${aliceName}`).count()).toBe(1);
    for (const p of [alice, bob, bob2]) expect(p.problems).toEqual([]);
  });
});
