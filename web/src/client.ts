import { RestClient } from '../../client/rest.ts';

export { ApiError } from '../../client/rest.ts';

/**
 * The client library bound to this page. Same-origin requests carry the httpOnly `sid`
 * cookie on their own; the page never sees or stores the token.
 */

/** Where the API lives: the page's own origin unless the static build was told otherwise. */
export const apiBase: string = (
  document.querySelector<HTMLMetaElement>('meta[name="parley-api"]')?.content ?? ''
).replace(/\/$/, '');

let onUnauthorized: () => void = () => undefined;
/** Called when a request that needed a session gets 401 (expired or revoked elsewhere). */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export const client = new RestClient({
  baseUrl: apiBase || location.origin,
  onUnauthorized: () => onUnauthorized(),
});
