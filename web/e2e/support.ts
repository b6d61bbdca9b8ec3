import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { deflateSync, crc32 } from 'node:zlib';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Locator,
  type Page,
  type WebSocketRoute,
} from 'playwright-core';
import { expect, vi } from 'vitest';
import { startServer, type RunningServer } from '../../server/app.ts';
import { silentLogger, testConfig } from '../../test/support.ts';
import { buildWeb } from '../build.ts';

/** Debian's Chromium (`apt-get install -y chromium`); playwright's own browsers are not used. */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT_DIR = 'test-results';
/** Small, so the size refusal is tested without pushing megabytes through the browser. */
export const MAX_UPLOAD_BYTES = 256 * 1024;

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A free loopback port: the browser's Origin must match CORS_ORIGINS, which names the port. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Harness {
  server: RunningServer;
  browser: Browser;
  baseUrl: string;
  /** Every page opened, for screenshots on failure. */
  pages: Map<string, Page>;
  close(): Promise<void>;
}

/** Builds the client, starts a real server (embedded or the run's Postgres/Redis) and Chromium. */
export async function startHarness(): Promise<Harness> {
  await buildWeb({ minify: true });
  const port = await freePort();
  const server = await startServer(
    testConfig({ PORT: String(port), MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) }),
    silentLogger,
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const pages = new Map<string, Page>();
  return {
    server,
    browser,
    baseUrl: `http://localhost:${port}`,
    pages,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Saves a full-page screenshot of every open page (called when a test fails). */
export async function screenshotAll(h: Harness, testName: string): Promise<void> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const safe = testName.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 80);
  for (const [who, page] of h.pages) {
    if (page.isClosed()) continue;
    await page
      .screenshot({ path: `${SCREENSHOT_DIR}/${safe}-${who}.png`, fullPage: true })
      .catch(() => undefined);
  }
}

export interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Console errors and CSP violations seen by this person's page. */
  problems: string[];
  network: Network;
}

/**
 * Cuts this profile off the server the way a dropped network does: open websockets close,
 * new websockets and polling requests fail, and the browser reports itself offline.
 * (Chromium's offline emulation alone leaves established websockets open.)
 */
interface Network {
  cut(): Promise<void>;
  restore(): Promise<void>;
}

async function controlNetwork(context: BrowserContext): Promise<Network> {
  let down = false;
  const open = new Set<WebSocketRoute>();
  await context.routeWebSocket(/\/socket\.io\//, (ws) => {
    if (down) {
      void ws.close({ code: 1006, reason: 'offline' }).catch(() => undefined);
      return;
    }
    const server = ws.connectToServer();
    open.add(ws);
    ws.onClose(() => {
      open.delete(ws);
      void server.close().catch(() => undefined);
    });
    server.onClose(() => {
      open.delete(ws);
      void ws.close().catch(() => undefined);
    });
  });
  await context.route(/\/socket\.io\//, (route) =>
    down ? route.abort('internetdisconnected') : route.continue(),
  );
  return {
    async cut() {
      down = true;
      await context.setOffline(true);
      await Promise.all(
        [...open].map((ws) => ws.close({ code: 1001, reason: 'network down' }).catch(() => undefined)),
      );
    },
    async restore() {
      down = false;
      await context.setOffline(false);
    },
  };
}

/** A browser profile (own cookies) with one page on the app. */
export async function openPerson(
  h: Harness,
  name: string,
  viewport = { width: 1280, height: 800 },
): Promise<Person> {
  const context = await h.browser.newContext({ viewport, baseURL: h.baseUrl });
  const network = await controlNetwork(context);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Expected: the 401 of /api/auth/me before login, and refused requests the test provokes.
    if (msg.type() === 'error' && !/status of (401|400|403|404|413)/.test(msg.text()))
      problems.push(`console: ${msg.text()}`);
  });
  h.pages.set(name, page);
  await page.goto('/');
  return { name, context, page, problems, network };
}

export async function register(
  p: Person,
  username: string,
  password = 'correct horse battery',
): Promise<void> {
  const { page } = p;
  await page.getByRole('button', { name: 'New here? Create an account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect.poll(() => page.getByTestId('whoami').textContent()).toBe(username);
  await waitConnected(p);
}

/** Logs in an existing user (a second device of someone registered elsewhere). */
export async function login(p: Person, username: string, password = 'correct horse battery'): Promise<void> {
  const { page } = p;
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect.poll(() => page.getByTestId('whoami').textContent()).toBe(username);
  await waitConnected(p);
}

/** The room's link in the sidebar (its accessible name starts with the room's name). */
export function roomLink(p: Person, roomName: string) {
  return p.page
    .getByRole('navigation', { name: 'Rooms' })
    .locator('li', { has: p.page.locator('.room-name', { hasText: exactly(roomName) }) })
    .getByRole('link');
}

function exactly(text: string): RegExp {
  return new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

/** The unread badge of a room in the sidebar, as a number (0 when there is none). */
export async function unreadBadge(p: Person, roomName: string): Promise<number> {
  const badge = roomLink(p, roomName).getByTestId('unread');
  if ((await badge.count()) === 0) return 0;
  const text = (await badge.evaluate((el) => el.firstChild?.textContent ?? '')).trim();
  return text === '99+' ? 100 : Number(text);
}

/** Opens the members panel (a toggle on narrow screens) and answers it. */
export async function membersPanel(p: Person) {
  const panel = p.page.getByRole('complementary', { name: 'Room members' });
  if (!(await panel.isVisible())) await p.page.getByRole('button', { name: 'Members' }).click();
  return panel;
}

export async function waitConnected(p: Person): Promise<void> {
  await p.page.locator('[data-testid="connection"][data-state="connected"]').waitFor();
}

export async function openRoom(p: Person, roomName: string): Promise<void> {
  const link = p.page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name: roomName });
  await link.waitFor();
  await link.click();
  await p.page.getByRole('heading', { name: roomName, level: 2 }).waitFor();
  // The room is open once the join answered: the history header replaces "Loading messages…".
  await p.page.locator('.older .muted:not(:text("Loading messages…")), .older button').first().waitFor();
}

/**
 * Clicks one of a message's toolbar buttons (Edit, Delete, Reply, Add reaction), which show
 * while the pointer is over the message. The hover and the click are retried together: when
 * the list moves under the pointer between them (a message arriving, a scroll into view),
 * the hover is lost and the hidden button would never become clickable.
 */
export async function clickMessageAction(message: Locator, name: string): Promise<void> {
  await vi.waitFor(
    async () => {
      await message.hover();
      await message.getByRole('button', { name }).click({ timeout: 2_000 });
    },
    { timeout: 30_000, interval: 100 },
  );
}

export async function send(p: Person, text: string): Promise<void> {
  const box = p.page.getByRole('textbox', { name: /^Message / });
  await box.fill(text);
  await box.press('Enter');
}

/** The confirmed messages shown, in display order. */
export async function shownMessages(p: Person): Promise<{ seq: number; text: string }[]> {
  return p.page.locator('ol.messages:not(.pending-list) > li.msg').evaluateAll((items) =>
    items.map((li) => ({
      seq: Number((li as HTMLElement).dataset.seq),
      text: li.querySelector('.msg-text')?.textContent ?? '',
    })),
  );
}

/** The id of the room open in this page (from the URL hash). */
export async function openRoomId(p: Person): Promise<string> {
  const hash = await p.page.evaluate(() => location.hash);
  const m = /^#room\/(.+)$/.exec(hash);
  if (!m) throw new Error(`no room open (hash ${hash})`);
  return decodeURIComponent(m[1]!);
}

export async function waitForMessage(p: Person, text: string): Promise<void> {
  await p.page
    .locator('ol.messages:not(.pending-list) > li.msg .msg-text', { hasText: text })
    .first()
    .waitFor();
}

/** Asserts the timeline is what a gap-free, duplicate-free client shows: consecutive seqs. */
export function expectContiguous(messages: { seq: number }[]): void {
  const seqs = messages.map((m) => m.seq);
  expect(new Set(seqs).size, `duplicates in ${seqs.join(',')}`).toBe(seqs.length);
  for (let i = 1; i < seqs.length; i++)
    expect(seqs[i], `order/gap in ${seqs.join(',')}`).toBe(seqs[i - 1]! + 1);
}

/** A real, decodable PNG (solid colour), so the other side can check the image rendered. */
export function pngImage(width: number, height: number, rgb: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, Buffer.from(rgb))]);
  const pixels = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
