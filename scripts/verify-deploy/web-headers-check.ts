import { createS3Store } from '../../core/storage/s3.ts';
import { endpointOrigins, headersInjection, s3Origins, webSecurityHeaders } from '../../infra/web-headers.ts';
import type { Program } from './program.ts';
import { assert } from './steps.ts';

/**
 * The CSP that CloudFront adds to the web client (infra/web-headers.ts, built by the same
 * function as the local server's) must allow exactly the origins the SDK signs upload and
 * download URLs for.
 */
export async function checkSignedOrigins(): Promise<string> {
  const signedOrigins = async (settings: Parameters<typeof createS3Store>[0]) => {
    const store = createS3Store(settings, { uploadUrlExpiresSeconds: 300, downloadUrlExpiresSeconds: 900 });
    try {
      const urls = [
        await store.signGetUrl({ key: 'r/u/k', mime: 'image/png', filename: 'a.png' }),
        (await store.presignUpload({ key: 'r/u/k', mime: 'image/png', bytes: 1, method: 'post' })).url,
        (await store.presignUpload({ key: 'r/u/k', mime: 'image/png', bytes: 1, method: 'put' })).url,
      ];
      return [...new Set(urls.map((u) => new URL(u).origin))];
    } finally {
      await store.close();
    }
  };
  const credentials = { accessKeyId: 'AKIAVERIFYONLY000000', secretAccessKey: 'verify-only' };
  for (const region of ['us-east-1', 'eu-west-1']) {
    const bucket = 'parley-production-uploadsbucket-abc123';
    const got = await signedOrigins({
      bucket,
      region,
      endpoint: undefined,
      credentials,
      forcePathStyle: false,
    });
    const allowed = s3Origins(bucket, region);
    assert(
      got.every((o) => allowed.includes(o)),
      `S3 ${region}: SDK signs for ${got.join(', ')}, CSP allows ${allowed.join(', ')}`,
    );
  }
  const r2 = 'https://0123456789abcdef.r2.cloudflarestorage.com';
  const got = await signedOrigins({
    bucket: 'parley',
    region: 'auto',
    endpoint: r2,
    credentials,
    forcePathStyle: true,
  });
  assert(
    got.every((o) => endpointOrigins(r2).includes(o)),
    `R2: SDK signs for ${got.join(', ')}`,
  );
  return 'the CSP (shared with the local server) allows the S3 (2 regions) and R2 signed-URL origins';
}

/**
 * The router's viewer-response function, as the evaluated program registered it, run
 * against CloudFront-shaped events: HTML responses get the security headers, others not.
 * (Node, not CloudFront's own JS runtime: the `cloudfront` module import is stripped.)
 */
export async function checkRouterHeaders(program: Program): Promise<string> {
  const fn = program.get('aws:cloudfront/function:Function', 'RouterCloudfrontFunctionResponse');
  assert(fn.inputs.runtime === 'cloudfront-js-2.0', `viewer-response runtime ${String(fn.inputs.runtime)}`);
  const code = String(fn.inputs.code).replace(/^\s*import cf from "cloudfront";/m, '');
  const handler = new Function(`${code}\nreturn handler;`)() as (
    e: unknown,
  ) => Promise<{ headers: Record<string, { value: string }> }>;
  const respond = (contentType: string) =>
    handler({ response: { statusCode: 200, headers: { 'content-type': { value: contentType } } } });
  const html = (await respond('text/html; charset=utf-8')).headers;
  const bucket = program.lambdaEnvironment('UploadsFunction').S3_BUCKET!;
  const expected = webSecurityHeaders(s3Origins(bucket, 'us-east-1'));
  for (const [name, value] of Object.entries(expected)) {
    assert(
      html[name]?.value === value,
      `HTML through the router: ${name} = ${html[name]?.value ?? '(missing)'}`,
    );
  }
  assert(headersInjection(expected).length > 0, 'no injection');
  const json = (await respond('application/json')).headers;
  assert(!json['content-security-policy'], 'an API response got the CSP');
  return 'the router viewer-response function sets CSP, Referrer-Policy, X-Frame-Options, COOP on HTML, not on JSON';
}
