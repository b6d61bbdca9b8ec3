import { describe, expect, it } from 'vitest';
import { signedUrlExpiry } from './message-item.ts';

describe('signedUrlExpiry', () => {
  it('reads the expiry of a SigV4 presigned URL', () => {
    const url =
      'http://127.0.0.1:9000/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261125T200102Z&X-Amz-Expires=900&X-Amz-Signature=abc';
    expect(signedUrlExpiry(url)).toBe(Date.UTC(2026, 10, 25, 20, 1, 2) + 900_000);
  });

  it('knows nothing about other URLs', () => {
    expect(signedUrlExpiry('https://example.com/file.png')).toBeUndefined();
    expect(signedUrlExpiry('https://example.com/f?X-Amz-Date=yesterday&X-Amz-Expires=60')).toBeUndefined();
    expect(signedUrlExpiry('not a url')).toBeUndefined();
  });
});
