import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { uniqueName } from '../../test/support.ts';
import { appendMessages } from '../../core/messages/messages.ts';
import {
  clickMessageAction,
  expectContiguous,
  MAX_UPLOAD_BYTES,
  openRoomId,
  openPerson,
  openRoom,
  pngImage,
  register,
  screenshotAll,
  send,
  shownMessages,
  startHarness,
  waitConnected,
  waitForMessage,
  type Harness,
  type Person,
} from './support.ts';

/**
 * Two people in two browser profiles use the real app against a real server: the whole
 * path from the DOM through REST, Socket.IO and the object store, and back.
 */
describe('web client, two browsers', () => {
  let h: Harness;
  let alice: Person;
  let bob: Person;
  const aliceName = uniqueName('alice');
  const bobName = uniqueName('bob');
  const roomName = `Team ${aliceName.slice(-4)}`;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const screenshotOnFailure = () => onTestFailed(({ task }) => screenshotAll(h, task.name));

  it('registers two people, serves the page with a strict CSP, and shares a room', async () => {
    screenshotOnFailure();
    const res = await fetch(h.baseUrl);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');

    alice = await openPerson(h, 'alice');
    bob = await openPerson(h, 'bob');
    await register(alice, aliceName);
    await register(bob, bobName);

    // Alice creates the room (it opens) and adds Bob by name.
    await alice.page.getByLabel('New room').fill(roomName);
    await alice.page.getByRole('button', { name: 'Create' }).click();
    await alice.page.getByRole('heading', { name: roomName, level: 2 }).waitFor();
    const panel = alice.page.getByRole('complementary', { name: 'Room members' });
    if (!(await panel.isVisible())) await alice.page.getByRole('button', { name: 'Members' }).click();
    await panel.getByLabel('Add a member by username').fill(bobName.toUpperCase()); // matched case-insensitively
    await panel.getByRole('button', { name: 'Add' }).click();
    await panel.getByText(`${bobName} is a member.`).waitFor();

    // Bob sees the room after a refresh of his list.
    await bob.page.getByRole('button', { name: 'Refresh rooms' }).click();
    await openRoom(bob, roomName);
  });

  it('chats both ways with presence, typing and acks', async () => {
    screenshotOnFailure();
    // Presence: each sees the other online.
    await alice.page.locator(`.member.online:has-text("${bobName}")`).waitFor();
    await bob.page.locator(`.member.online:has-text("${aliceName}")`).waitFor();
    await expect.poll(() => alice.page.getByTestId('online-count').textContent()).toBe('2 online');

    // Typing: Bob sees Alice typing, and it ends when she sends.
    const aliceBox = alice.page.getByRole('textbox', { name: /^Message / });
    await aliceBox.pressSequentially('Hello Bob', { delay: 20 });
    await bob.page.getByText(`${aliceName} is typing…`).waitFor();
    await aliceBox.press('Enter');
    await waitForMessage(bob, 'Hello Bob');
    await bob.page.getByText(`${aliceName} is typing…`).waitFor({ state: 'detached' });

    await send(bob, 'Hi Alice <b>not bold</b>');
    await waitForMessage(alice, 'Hi Alice <b>not bold</b>');
    // Text is text: no markup was interpreted.
    expect(await alice.page.locator('.msg-text b').count()).toBe(0);

    // Own messages end up confirmed (seq from the ack or broadcast), nothing left pending.
    await waitForMessage(alice, 'Hello Bob');
    await expect.poll(() => alice.page.locator('li.msg.pending').count()).toBe(0);
    const aliceView = await shownMessages(alice);
    const bobView = await shownMessages(bob);
    expect(aliceView).toEqual(bobView);
    expect(aliceView.map((m) => m.text)).toEqual(['Hello Bob', 'Hi Alice <b>not bold</b>']);
    expectContiguous(aliceView);
  });

  it('uploads an image that the other side sees, and explains a refused file', async () => {
    screenshotOnFailure();
    const input = alice.page.locator('input[type="file"]');
    await input.setInputFiles({
      name: 'red.png',
      mimeType: 'image/png',
      buffer: pngImage(40, 30, [220, 30, 30]),
    });
    const chip = alice.page.getByTestId('upload');
    await chip.getByText('Ready to send').waitFor();
    await expect
      .poll(() => chip.locator('progress').evaluate((p) => (p as HTMLProgressElement).value))
      .toBe(1);
    await alice.page.getByRole('textbox', { name: /^Message / }).fill('a picture');
    await alice.page.getByRole('button', { name: 'Send' }).click();

    // Bob's browser loads the image from the object store (allowed by the CSP) and decodes it.
    const img = bob.page.locator('li.msg .msg-image img[alt="red.png"]');
    await img.waitFor();
    await expect
      .poll(() =>
        img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth),
      )
      .toBe(40);
    await waitForMessage(bob, 'a picture');

    // A dropped file that is not an image arrives as a download link to the stored bytes.
    const notes = await alice.page.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['meeting notes'], 'notes.txt', { type: 'text/plain' }));
      return dt;
    });
    const chat = alice.page.locator('section.chat');
    await chat.dispatchEvent('dragenter', { dataTransfer: notes });
    await chat.dispatchEvent('dragover', { dataTransfer: notes });
    await chat.dispatchEvent('drop', { dataTransfer: notes });
    await chip.getByText('Ready to send').waitFor();
    await alice.page.getByRole('button', { name: 'Send' }).click();
    const link = bob.page.locator('a.msg-file', { hasText: 'notes.txt' });
    await link.waitFor();
    const download = await bob.context.request.get((await link.getAttribute('href'))!);
    expect(await download.text()).toBe('meeting notes');

    // A type the server refuses is explained, and nothing is sent.
    await input.setInputFiles({
      name: 'page.html',
      mimeType: 'text/html',
      buffer: Buffer.from('<h1>hi</h1>'),
    });
    await chip.getByText(/cannot be shared here/).waitFor();
    expect(await alice.page.getByRole('button', { name: 'Send' }).isDisabled()).toBe(true);
    await chip.getByRole('button', { name: 'Dismiss' }).click();

    // So is a file over the size limit.
    await input.setInputFiles({
      name: 'big.png',
      mimeType: 'image/png',
      buffer: Buffer.alloc(MAX_UPLOAD_BYTES + 1),
    });
    await chip.getByText(/is too large .* The limit is 256 KB/).waitFor();
    await chip.getByRole('button', { name: 'Dismiss' }).click();
  });

  it('keeps the session and the history across a reload', async () => {
    screenshotOnFailure();
    const before = await shownMessages(bob);
    await bob.page.reload();
    await expect.poll(() => bob.page.getByTestId('whoami').textContent()).toBe(bobName);
    await waitConnected(bob);
    // The open room is in the URL, so it reopens.
    await bob.page.getByRole('heading', { name: roomName, level: 2 }).waitFor();
    await bob.page.locator('li.msg .msg-image img[alt="red.png"]').waitFor();
    await expect.poll(() => shownMessages(bob)).toEqual(before);
  });

  it('loads an image again with a fresh URL when its signed URL stopped working', async () => {
    screenshotOnFailure();
    // The store refuses the first fetch of the picture, as it does once a signature expired.
    let refused = 0;
    await bob.context.route(/\/[^/?]+\?.*X-Amz-Signature=/, async (route) => {
      if (route.request().resourceType() === 'image' && refused === 0) {
        refused++;
        return route.fulfill({ status: 403, body: 'Request has expired' });
      }
      return route.continue();
    });
    const refetches: string[] = [];
    bob.page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.pathname === '/api/messages' && url.searchParams.get('limit') === '1') refetches.push(r.url());
    });
    try {
      await bob.page.reload();
      const img = bob.page.locator('li.msg .msg-image img[alt="red.png"]');
      await expect
        .poll(() =>
          img.evaluate((el) => (el as HTMLImageElement).complete && (el as HTMLImageElement).naturalWidth),
        )
        .toBe(40);
      expect(refused).toBe(1);
      expect(refetches).toHaveLength(1);
    } finally {
      await bob.context.unroute(/\/[^/?]+\?.*X-Amz-Signature=/);
    }
  });

  it('catches up after a forced disconnect with no gap and no duplicate', async () => {
    screenshotOnFailure();
    await bob.network.cut();
    await bob.page.locator('[data-testid="connection"][data-state="offline"]').waitFor();

    // While Bob is away: Alice talks, and Bob writes a message that must wait.
    for (const text of ['while you were away 1', 'while you were away 2', 'while you were away 3'])
      await send(alice, text);
    await waitForMessage(alice, 'while you were away 3');
    await send(bob, 'sent while offline');
    await bob.page.locator('li.msg.pending', { hasText: 'sent while offline' }).waitFor();

    await bob.network.restore();
    await waitConnected(bob);
    await waitForMessage(bob, 'while you were away 3');
    await waitForMessage(bob, 'sent while offline');
    await waitForMessage(alice, 'sent while offline');
    await expect.poll(() => bob.page.locator('li.msg.pending').count()).toBe(0);

    const bobView = await shownMessages(bob);
    expectContiguous(bobView);
    expect(bobView.filter((m) => m.text === 'sent while offline')).toHaveLength(1);
    await expect.poll(() => shownMessages(alice)).toEqual(bobView);
    expect(alice.problems).toEqual([]);
    expect(bob.problems.filter((p) => !p.includes('ERR_INTERNET_DISCONNECTED'))).toEqual([]);
  });

  it('fills a gap that a live message reveals, and loads older history on scroll', async () => {
    screenshotOnFailure();
    // 70 messages written behind the clients' backs (no broadcast): the next live message
    // jumps 70 seqs ahead of what Bob holds, so his client must fetch the gap (afterSeq).
    const roomId = await openRoomId(alice);
    const me = await alice.context.request.get('/api/auth/me');
    const { user } = (await me.json()) as { user: { id: string; username: string } };
    const drafts = Array.from({ length: 70 }, (_, i) => ({
      userId: user.id,
      name: user.username,
      text: `backfill ${i + 1}`,
      clientMsgId: null,
      attachmentId: null,
    }));
    const results = await appendMessages(h.server.services.db, roomId, drafts);
    expect(results.every((r) => r.ok)).toBe(true);

    await send(alice, 'after the silent ones');
    await waitForMessage(bob, 'after the silent ones');
    await waitForMessage(bob, 'backfill 70');
    const afterGap = await shownMessages(bob);
    expectContiguous(afterGap);
    expect(afterGap.map((m) => m.text)).toContain('backfill 1');

    // A fresh load shows the newest page only; scrolling up brings back the rest, in order.
    await bob.page.reload();
    await waitForMessage(bob, 'after the silent ones');
    const firstPage = await shownMessages(bob);
    expect(firstPage.length).toBe(50);
    const scroller = bob.page.locator('.scroller');
    await expect
      .poll(async () => {
        await scroller.evaluate((el) => el.scrollTo(0, 0));
        return (await shownMessages(bob)).length;
      })
      .toBe(afterGap.length);
    await bob.page.getByText(/This is the beginning of/).waitFor();
    const all = await shownMessages(bob);
    expectContiguous(all);
    expect(all[0]!.seq).toBe(1);
  });

  it('retries sends refused by the rate limit until each is stored exactly once', async () => {
    screenshotOnFailure();
    // Joined and settled first, so the burst leaves at once, not through the outbox's flush
    // after a (re)join, which sends one message at a time, each after the last one's ack.
    await send(alice, 'before the burst');
    await expect.poll(() => alice.page.locator('li.msg.pending').count()).toBe(0);
    // Over the per-socket limit (10 a second): some acks say rate_limited with retryAfterMs.
    // 21, so that one window of 1 s holds more than 10 however a window's end splits the burst
    // (14 once stayed under the limit in CI).
    const burst = Array.from({ length: 21 }, (_, i) => `burst ${i + 1}`);
    // Typed and sent within one task, faster than a test driver's round trips allow.
    await alice.page.getByRole('textbox', { name: /^Message / }).evaluate((box, texts) => {
      for (const text of texts) {
        (box as HTMLTextAreaElement).value = text;
        box.dispatchEvent(new Event('input', { bubbles: true }));
        box.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
      }
    }, burst);
    await expect.poll(() => alice.page.locator('li.msg.pending').count(), { timeout: 20_000 }).toBe(0);
    await waitForMessage(bob, 'burst 21');
    for (const view of [await shownMessages(alice), await shownMessages(bob)]) {
      expectContiguous(view);
      for (const text of burst)
        expect(
          view.filter((m) => m.text === text),
          text,
        ).toHaveLength(1);
    }
    expect(await alice.page.locator('li.msg.failed').count()).toBe(0);
    // The limit was really hit, so the retries above were exercised.
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    const limited = /^parley_rate_limited_total\{event="message"\} (\d+)/m.exec(metrics);
    expect(Number(limited?.[1] ?? 0)).toBeGreaterThan(0);
  });

  /** The confirmed message of `p` whose text (or, once deleted, id) is given. */
  const item = (p: Person, text: string) =>
    p.page.locator('ol.messages:not(.pending-list) > li.msg', {
      has: p.page.locator('.msg-text', { hasText: text }),
    });
  const byId = (p: Person, id: string) => p.page.locator(`ol.messages > li.msg[data-id="${id}"]`);

  it('edits, deletes, reacts and replies, and the other side sees each live', async () => {
    screenshotOnFailure();
    for (const text of ['to be edited', 'to be deleted', 'react to me']) await send(alice, text);
    await send(alice, 'see https://example.com/docs?q=1. but not javascript:alert(1)');
    await waitForMessage(bob, 'see https://example.com');
    await expect.poll(() => alice.page.locator('li.msg.pending').count()).toBe(0);

    // One author's consecutive messages are grouped; the day starts with a separator.
    expect(await item(bob, 'to be deleted').getAttribute('class')).toContain('grouped');
    expect(
      await bob.page.locator('ol.messages > li.day-separator[role="separator"]').count(),
    ).toBeGreaterThan(0);
    expect(await bob.page.locator('ol.messages > li.msg').first().getAttribute('class')).not.toContain(
      'grouped',
    );

    // Edit: Esc cancels, Enter saves; Bob sees the new text and the marker.
    const edited = item(alice, 'to be edited');
    const editedId = (await edited.getAttribute('data-id'))!;
    await clickMessageAction(edited, 'Edit');
    const box = alice.page.getByRole('textbox', { name: 'Edit message' });
    await box.fill('not this');
    await box.press('Escape');
    await expect.poll(() => byId(alice, editedId).locator('.msg-text').textContent()).toBe('to be edited');
    await clickMessageAction(byId(alice, editedId), 'Edit');
    await box.fill('edited for real');
    await box.press('Enter');
    await byId(bob, editedId).locator('.msg-edited', { hasText: 'edited' }).waitFor();
    expect(await byId(bob, editedId).locator('.msg-text').textContent()).toBe('edited for real');
    await byId(alice, editedId).locator('.msg-edited').waitFor();

    // Delete, after a confirmation; Bob sees the tombstone.
    const doomed = item(alice, 'to be deleted');
    const doomedId = (await doomed.getAttribute('data-id'))!;
    await clickMessageAction(doomed, 'Delete');
    await doomed.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await byId(bob, doomedId).locator('.msg-tombstone', { hasText: 'message deleted' }).waitFor();
    expect(await byId(bob, doomedId).locator('.msg-text').count()).toBe(0);
    await byId(alice, doomedId).locator('.msg-tombstone').waitFor();

    // React: Bob picks 👍, Alice sees the count and who; each toggles the chip.
    const target = item(bob, 'react to me');
    const targetId = (await target.getAttribute('data-id'))!;
    await clickMessageAction(target, 'Add reaction');
    await target.getByRole('button', { name: 'React with 👍' }).click();
    const aliceChip = byId(alice, targetId).locator('.reaction-chip[data-emoji="👍"]');
    await expect.poll(() => aliceChip.getAttribute('aria-label')).toBe(`👍 1: ${bobName}`);
    expect(await aliceChip.getAttribute('title')).toBe(bobName);
    expect(await aliceChip.getAttribute('aria-pressed')).toBe('false');
    await aliceChip.click();
    const bobChip = byId(bob, targetId).locator('.reaction-chip[data-emoji="👍"]');
    await expect.poll(() => bobChip.getAttribute('aria-label')).toBe(`👍 2: you, ${aliceName}`);
    expect(await bobChip.getAttribute('aria-pressed')).toBe('true');
    // Alice's chip was drawn again with the new count; the keyboard focus stayed on it.
    await expect.poll(() => aliceChip.getAttribute('aria-label')).toBe(`👍 2: ${bobName}, you`);
    expect(
      await alice.page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.emoji),
    ).toBe('👍');
    await bobChip.click();
    await expect.poll(() => aliceChip.getAttribute('aria-label')).toBe('👍 1: you');

    // Reply: Bob quotes the edited message; Alice sees the quote and it leads to the parent.
    const parent = byId(bob, editedId);
    await clickMessageAction(parent, 'Reply');
    await bob.page.locator('.reply-bar', { hasText: `Replying to ${aliceName}` }).waitFor();
    await send(bob, 'my answer');
    await expect.poll(() => bob.page.locator('.reply-bar').isVisible()).toBe(false);
    const answer = item(alice, 'my answer');
    await answer.locator('.msg-quote', { hasText: 'edited for real' }).waitFor();
    await alice.page.locator('.scroller').evaluate((el) => el.scrollTo(0, 0));
    await answer.locator('.msg-quote').click();
    await byId(alice, editedId).and(alice.page.locator('.highlight')).waitFor();
    expect(await byId(alice, editedId).isVisible()).toBe(true);
    await expect
      .poll(() =>
        byId(alice, editedId).evaluate((el) => {
          const r = el.getBoundingClientRect();
          return r.top >= 0 && r.bottom <= window.innerHeight;
        }),
      )
      .toBe(true);

    // A link is a safe anchor; a javascript: "link" stays text.
    const link = item(bob, 'see https://example.com').locator('a.msg-link');
    expect(await link.count()).toBe(1);
    expect(await link.getAttribute('href')).toBe('https://example.com/docs?q=1');
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await link.textContent()).toBe('https://example.com/docs?q=1');
    expect(await bob.page.locator('a[href^="javascript:"]').count()).toBe(0);
    expect(alice.problems).toEqual([]);
    expect(bob.problems.filter((p) => !p.includes('ERR_INTERNET_DISCONNECTED'))).toEqual([]);
  });

  it('goes offline on the browser’s offline event, before any ping timeout, and back on online', async () => {
    screenshotOnFailure();
    // Offline emulation alone leaves the open websocket up: only the offline event tells.
    await bob.context.setOffline(true);
    await bob.page.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 2_000 });
    await bob.context.setOffline(false);
    await waitConnected(bob);
    await send(alice, 'after the offline event');
    await waitForMessage(bob, 'after the offline event');
  });

  /** What a person's page shows of each message: enough to compare two views exactly. */
  const shownState = (p: Person) =>
    p.page.locator('ol.messages:not(.pending-list) > li.msg').evaluateAll((items) =>
      items.map((li) => ({
        seq: Number((li as HTMLElement).dataset.seq),
        version: Number((li as HTMLElement).dataset.version),
        text: li.querySelector('.msg-text')?.textContent ?? '',
        edited: li.querySelector('.msg-edited') !== null,
        deleted: li.querySelector('.msg-tombstone') !== null,
        quote: li.querySelector('.msg-quote-text')?.textContent ?? null,
        reactions: [...li.querySelectorAll('.reaction-chip')].map(
          (c) => c.getAttribute('data-emoji') + (c.querySelector('.reaction-count')?.textContent ?? ''),
        ),
      })),
    );

  it('catches up on edits, deletes and reactions missed while offline, exactly', async () => {
    screenshotOnFailure();
    await bob.network.cut();
    // The browser's offline event, not the ping timeout, takes Bob offline.
    await bob.page.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 3_000 });

    const act = (text: string, name: string) => clickMessageAction(item(alice, text), name);
    await act('edited for real', 'Edit');
    const box = alice.page.getByRole('textbox', { name: 'Edit message' });
    await box.fill('edited while bob was away');
    await box.press('Enter');
    await item(alice, 'edited while bob was away').locator('.msg-edited').waitFor();
    await act('my answer', 'Add reaction');
    await item(alice, 'my answer').getByRole('button', { name: 'React with 🎉' }).click();
    await item(alice, 'my answer').locator('.reaction-chip[data-emoji="🎉"]').waitFor();
    const gone = item(alice, 'react to me');
    const goneId = (await gone.getAttribute('data-id'))!;
    await act('react to me', 'Delete');
    await gone.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await byId(alice, goneId).locator('.msg-tombstone').waitFor();
    await send(alice, 'after the changes');
    await waitForMessage(alice, 'after the changes');

    await bob.network.restore();
    await waitConnected(bob);
    await waitForMessage(bob, 'after the changes');
    const expected = await shownState(alice);
    await expect.poll(() => shownState(bob)).toEqual(expected);
    const answer = expected.find((m) => m.text === 'my answer')!;
    expect(answer).toMatchObject({ quote: 'edited while bob was away', reactions: ['🎉1'] });
    expect(expected.find((m) => m.text === 'edited while bob was away')?.edited).toBe(true);
    expect(alice.problems).toEqual([]);
    expect(bob.problems.filter((p) => !p.includes('ERR_INTERNET_DISCONNECTED'))).toEqual([]);
  });

  it('jumps to a quoted parent that is not loaded, loading older history down to it', async () => {
    screenshotOnFailure();
    // Bob's view holds the whole room (he paged back to the start earlier): he answers seq 1.
    const first = bob.page.locator('ol.messages > li.msg[data-seq="1"]');
    await first.scrollIntoViewIfNeeded();
    await clickMessageAction(first, 'Reply');
    await send(bob, 'answering the very first one');
    const answer = item(alice, 'answering the very first one');
    await answer.waitFor();
    // A fresh load shows only the newest page: seq 1 is not in Alice's view.
    await alice.page.reload();
    await answer.locator('.msg-quote', { hasText: 'Hello Bob' }).waitFor();
    expect(await alice.page.locator('ol.messages > li.msg[data-seq="1"]').count()).toBe(0);
    await answer.locator('.msg-quote').click();
    const parent = alice.page.locator('ol.messages > li.msg[data-seq="1"]');
    await parent.and(alice.page.locator('.highlight')).waitFor();
    await expect
      .poll(() =>
        parent.evaluate((el) => {
          const r = el.getBoundingClientRect();
          return r.top >= 0 && r.bottom <= window.innerHeight;
        }),
      )
      .toBe(true);
    expectContiguous(await shownMessages(alice));
    expect(alice.problems).toEqual([]);
  });

  it('works one pane at a time on a phone-sized screen', async () => {
    screenshotOnFailure();
    const carol = await openPerson(h, 'carol', { width: 390, height: 780 });
    await register(carol, uniqueName('carol'));
    const rooms = carol.page.getByRole('navigation', { name: 'Rooms' });
    await carol.page.getByLabel('New room').fill('Pocket');
    await carol.page.getByLabel('New room').press('Enter');
    // The room replaces the list; the back button brings the list back.
    await carol.page.getByRole('heading', { name: 'Pocket', level: 2 }).waitFor();
    expect(await rooms.isVisible()).toBe(false);
    await send(carol, 'from my phone');
    await waitForMessage(carol, 'from my phone');
    const noHorizontalScroll = await carol.page.evaluate(
      () => document.documentElement.scrollWidth <= window.innerWidth,
    );
    expect(noHorizontalScroll).toBe(true);
    await carol.page.getByRole('button', { name: 'Members' }).click();
    await carol.page.getByLabel('Add a member by username').waitFor();
    await carol.page.keyboard.press('Escape');
    await carol.page.getByRole('button', { name: 'Back to rooms' }).click();
    await rooms.getByRole('link', { name: 'Pocket' }).waitFor();
    expect(await carol.page.getByRole('heading', { name: 'Pocket', level: 2 }).isVisible()).toBe(false);
    expect(carol.problems).toEqual([]);
    await carol.context.close();
  });

  it('leaves the room and logs out', async () => {
    screenshotOnFailure();
    const panel = bob.page.getByRole('complementary', { name: 'Room members' });
    bob.page.once('dialog', (d) => void d.accept());
    await panel.getByRole('button', { name: 'Leave room' }).click();
    await bob.page.getByRole('heading', { name: 'Pick a room' }).waitFor();
    await expect
      .poll(() => bob.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link').count())
      .toBe(0);
    // Bob vanishes from the presence Alice sees.
    await expect.poll(() => alice.page.getByTestId('online-count').textContent()).toBe('1 online');

    await bob.page.getByRole('button', { name: 'Log out' }).click();
    await bob.page.getByRole('button', { name: 'Log in' }).waitFor();
    await bob.page.reload();
    await bob.page.getByRole('button', { name: 'Log in' }).waitFor();
    const cookies = await bob.context.cookies();
    expect(cookies.find((c) => c.name === 'sid')?.value ?? '').toBe('');
    // No script error or CSP violation on Alice's page over the whole session.
    expect(alice.problems).toEqual([]);
  });
});
