import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAccount } from '../test/accounts.ts';
import { sharedServices, silentLogger, testConfig, uniqueName } from '../test/support.ts';
import { startServer, type RunningServer } from './app.ts';

let server: RunningServer;
const METRICS_TOKEN = 'metrics-token-0123456789';

beforeAll(async () => {
  server = await startServer(testConfig({ METRICS_TOKEN }), silentLogger, await sharedServices());
});
afterAll(async () => {
  await server?.close();
});

describe('the local server over real HTTP', () => {
  it('serves /healthz and /readyz', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('serves the REST API with cookies over a real socket', async () => {
    const alice = new TestAccount(server.url, uniqueName('http'));
    await alice.register();
    const room = await alice.createRoom('over http');
    expect((await alice.request('GET', `/api/rooms/${room.id}/members`)).status).toBe(200);
    const got = await alice.request<{ room: { id: string } }>('GET', `/api/rooms/${room.id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get('x-request-id')).toBeTruthy();
    expect(got.headers.get('cache-control')).toBe('no-store');
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers unknown API paths with the contract 404', async () => {
    const res = await fetch(`${server.url}/api/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'Not found' } });
  });

  it('protects /metrics with METRICS_TOKEN and exposes the parley metrics without user or room labels', async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } }))
        .status,
    ).toBe(401);
    const res = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const name of [
      'parley_http_requests_total',
      'parley_http_request_duration_seconds',
      'parley_sockets_connected',
      'parley_socket_events_total',
      'parley_message_ack_seconds',
      'parley_rate_limited_total',
      'process_cpu_user_seconds_total',
    ]) {
      expect(text, name).toContain(name);
    }
    expect(text).toMatch(
      /parley_http_requests_total\{method="POST",route="\/api\/auth\/register",status="201"\}/,
    );
    // Routes are patterns, never concrete ids; no label carries a user or room.
    expect(text).not.toMatch(/(roomId|userId|user|room)="/);
    expect(text).not.toMatch(/route="[^"]*[0-9a-f]{8}-[0-9a-f]{4}/);
  });
});
