import { getConnInfo, handle } from 'hono/aws-lambda';
import { describe, expect, it } from 'vitest';
import { functionUrlEvent, jsonBody, lambdaContext, type LambdaHandler } from '../../test/lambda-support.ts';
import { createLogger } from '../logger.ts';
import { createHttpApp } from './app.ts';
import { requestToken } from './session.ts';

/**
 * Requests as a Function URL receives them behind the CloudFront router with Origin Access
 * Control: CloudFront's SigV4 signature in `Authorization`, the viewer's cookies in the
 * event's `cookies`, `X-Forwarded-For` cut to its leftmost entry (which the client wrote),
 * the TCP peer an edge server, and the viewer's address in `CloudFront-Viewer-Address`.
 */
const OAC_SIGNATURE =
  'AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261201/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123abcd';
const EDGE = '130.176.12.34';

function app(config: { trustProxyHops: number; clientAddressHeader: string | undefined }): LambdaHandler {
  const hono = createHttpApp({
    config: { ...config, requestTimeoutMs: 5_000 },
    logger: createLogger('silent'),
    getConnInfo,
  });
  hono.get('/api/probe', (c) => c.json({ token: requestToken(c) ?? null, address: c.get('clientAddress') }));
  return handle(hono) as unknown as LambdaHandler;
}

function viaCloudFront(headers: Record<string, string>, cookies?: string[]) {
  const event = functionUrlEvent('GET', '/api/probe', { ip: EDGE, ...(cookies ? { cookies } : {}) });
  Object.assign(event.headers, { authorization: OAC_SIGNATURE, ...headers });
  return event;
}

const probe = async (handler: LambdaHandler, event: unknown) =>
  jsonBody<{ token: string | null; address: string }>(await handler(event, lambdaContext));

describe('REST behind CloudFront OAC and a Function URL', () => {
  const deployed = app({ trustProxyHops: 0, clientAddressHeader: 'cloudfront-viewer-address' });

  it('takes the sid cookie although Authorization holds the OAC signature', async () => {
    const got = await probe(deployed, viaCloudFront({}, ['theme=dark', 'sid=cookie.jwt.value']));
    expect(got.token).toBe('cookie.jwt.value');
  });

  it("takes a native client's token from X-Parley-Authorization", async () => {
    const got = await probe(
      deployed,
      viaCloudFront({ 'x-parley-authorization': 'Bearer native.jwt.value' }, ['sid=other']),
    );
    expect(got.token).toBe('native.jwt.value');
  });

  it('keeps Authorization: Bearer working when the function is called directly', async () => {
    const event = functionUrlEvent('GET', '/api/probe', { cookies: ['sid=cookie.jwt.value'] });
    Object.assign(event.headers, { authorization: 'Bearer direct.jwt.value' });
    expect((await probe(deployed, event)).token).toBe('direct.jwt.value');
  });

  it('treats a malformed Bearer header as a bad token, not as absent', async () => {
    const got = await probe(
      deployed,
      viaCloudFront({ 'x-parley-authorization': 'Bearer' }, ['sid=cookie.jwt.value']),
    );
    expect(got.token).toBe('');
  });

  it("uses the viewer's address from CloudFront-Viewer-Address, not the forgeable X-Forwarded-For", async () => {
    // The client sent `X-Forwarded-For: 198.51.100.66`; CloudFront appended the viewer, and the
    // Function URL kept only the leftmost entry.
    const v4 = await probe(
      deployed,
      viaCloudFront({ 'x-forwarded-for': '198.51.100.66', 'cloudfront-viewer-address': '203.0.113.7:53211' }),
    );
    expect(v4.address).toBe('203.0.113.7');
    const v6 = await probe(
      deployed,
      viaCloudFront({
        'x-forwarded-for': '198.51.100.66',
        'cloudfront-viewer-address': '2001:db8:85a3::8a2e:370:7334:443',
      }),
    );
    expect(v6.address).toBe('2001:db8:85a3::8a2e:370:7334');
  });

  it('shows why TRUST_PROXY_HOPS cannot work there: two hops find no entry and fall back to the edge', async () => {
    const hops = app({ trustProxyHops: 2, clientAddressHeader: undefined });
    const got = await probe(hops, viaCloudFront({ 'x-forwarded-for': '198.51.100.66' }));
    expect(got.address).toBe(EDGE);
    // And one hop would trust whatever the client wrote.
    const one = app({ trustProxyHops: 1, clientAddressHeader: undefined });
    expect((await probe(one, viaCloudFront({ 'x-forwarded-for': '198.51.100.66' }))).address).toBe(
      '198.51.100.66',
    );
  });
});
