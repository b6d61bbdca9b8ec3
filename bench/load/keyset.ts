/**
 * The raw keyset page every history reference runs: what a first implementation would send
 * for "the page of `$3` before seq `$2`", an index scan on (room_id, seq) and nothing else.
 */
export const KEYSET = `SELECT id, room_id, seq, user_id, name, text, ts, client_msg_id, attachment_id
                  FROM messages WHERE room_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`;
