import { uuidv7 } from 'uuidv7';

/** Time-ordered ids (UUIDv7): unique without coordination, and index-friendly. */
export const newId = (): string => uuidv7();
