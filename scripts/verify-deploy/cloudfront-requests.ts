import { createHash, randomBytes } from 'node:crypto';
import { assert } from './steps.ts';
import type { LambdaProcess } from './lambda-runtime.ts';

/**
 * Function URL (payload v2) events shaped as they arrive behind the CloudFront router with
 * `protection: 'oac-with-edge-signing'`:
 *  - `Authorization` is CloudFront's SigV4 signature (OAC signs always, replacing the viewer's);
 *  - `x-amz-content-sha256` is the body's hash (the Lambda@Edge signer adds it);
 *  - cookies arrive in the event's `cookies` array;
 *  - `X-Forwarded-For` is cut by the Function URL to its leftmost entry: the client's own
 *    value when it sent one, else the viewer's address; the TCP peer (`sourceIp`) is a
 *    CloudFront edge server; the viewer's address is in `CloudFront-Viewer-Address`.
 */

const EDGE_ADDRESS = '130.176.98.17';

export interface Viewer {
  /** The viewer's address as CloudFront sees it. */
  address: string;
  /** What the viewer itself put in X-Forwarded-For, if anything. */
  forwardedFor?: string;
  origin?: string;
  cookies?: string[];
  /** Headers the viewer sent (e.g. X-Parley-Authorization). */
  headers?: Record<string, string>;
}

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string>;
  viewer: Viewer;
  /** Skip CloudFront: the function called directly (no OAC signature, no CloudFront headers). */
  direct?: boolean;
}

function functionUrlEvent(
  functionHost: string,
  publicHost: string,
  method: string,
  path: string,
  opts: CallOptions,
) {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const now = new Date();
  const amzDate = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const viewer = opts.viewer;
  const headers: Record<string, string> = {
    host: functionHost,
    'user-agent': 'parley-verify',
    accept: 'application/json',
    'x-forwarded-proto': 'https',
    'x-forwarded-port': '443',
    ...(viewer.origin ? { origin: viewer.origin } : {}),
    ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...viewer.headers,
  };
  if (opts.direct) {
    headers['x-forwarded-for'] = viewer.forwardedFor
      ? `${viewer.forwardedFor}, ${viewer.address}`
      : viewer.address;
  } else {
    const leftmost = (viewer.forwardedFor ?? viewer.address).split(',')[0]!.trim();
    Object.assign(headers, {
      'x-forwarded-for': leftmost,
      'x-forwarded-host': publicHost,
      via: '2.0 0123456789abcdef.cloudfront.net (CloudFront)',
      'x-amz-cf-id': randomBytes(24).toString('base64url'),
      'cloudfront-forwarded-proto': 'https',
      'cloudfront-viewer-address': `${viewer.address}:${40000 + Math.floor(Math.random() * 20000)}`,
      'x-amz-date': amzDate,
      'x-amz-security-token': 'IQoJb3JpZ2luX2VjEXAMPLE',
      'x-amz-content-sha256': createHash('sha256')
        .update(body ?? '')
        .digest('hex'),
      authorization: `AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/${amzDate.slice(0, 8)}/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=${randomBytes(32).toString('hex')}`,
    });
  }
  const rawQueryString = new URLSearchParams(opts.query ?? {}).toString();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString,
    ...(viewer.cookies?.length ? { cookies: viewer.cookies } : {}),
    headers,
    ...(opts.query ? { queryStringParameters: opts.query } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: functionHost.split('.')[0],
      domainName: functionHost,
      domainPrefix: functionHost.split('.')[0],
      http: {
        method,
        path,
        protocol: 'HTTP/1.1',
        sourceIp: opts.direct ? viewer.address : EDGE_ADDRESS,
        userAgent: 'parley-verify',
      },
      requestId: randomBytes(8).toString('hex'),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: false,
  };
}

interface FunctionUrlResult {
  statusCode: number;
  headers?: Record<string, string>;
  cookies?: string[];
  body?: string;
  isBase64Encoded?: boolean;
}

/** A function behind the router: its Function URL host and the public origin. */
export interface RoutedFunction {
  fn: LambdaProcess;
  functionHost: string;
  publicHost: string;
}

export async function call(target: RoutedFunction, method: string, path: string, opts: CallOptions) {
  const event = functionUrlEvent(target.functionHost, target.publicHost, method, path, opts);
  const res = (await target.fn.invoke(event)) as FunctionUrlResult;
  assert(
    res && typeof res.statusCode === 'number',
    `${method} ${path}: not a Function URL response: ${JSON.stringify(res)}`,
  );
  const text = res.isBase64Encoded ? Buffer.from(res.body ?? '', 'base64').toString() : (res.body ?? '');
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return {
    status: res.statusCode,
    cookies: res.cookies ?? [],
    headers: res.headers ?? {},
    json: json as Record<string, unknown>,
  };
}

/** `sid=value` from a Set-Cookie entry of the `cookies` array. */
export function sessionFrom(cookies: string[]): { pair: string; token: string; attributes: string } {
  const c = cookies.find((s) => s.startsWith('sid='));
  assert(c, `no sid cookie in the cookies array: ${JSON.stringify(cookies)}`);
  const pair = c.split(';')[0]!;
  return { pair, token: decodeURIComponent(pair.slice(4)), attributes: c.slice(pair.length) };
}
