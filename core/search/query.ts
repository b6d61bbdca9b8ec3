/**
 * The search box's text as a Postgres tsquery, built without ever letting the user write
 * tsquery syntax: the text is split on white space, every word is quoted as one tsquery
 * operand (so `&`, `|`, `!`, `<->`, `:*` and parentheses inside it are just characters),
 * the words are ANDed, and the last one is a prefix (`:*`), for search-as-you-type.
 *
 * The result is handed to `to_tsquery('simple', $1)` as a bind parameter: Postgres then
 * splits each quoted operand with the same parser and lower-casing as the `simple`
 * configuration that built `messages.search`, so a query word matches the words of a
 * message exactly as they were indexed (`foo-bar` in a query becomes the phrase the message
 * `foo-bar` was indexed as; `fox.` becomes `fox`).
 */

/** A word is a run of non-space characters with at least one letter or digit in it. */
const HAS_WORD_CHARACTER = /[\p{L}\p{N}]/u;

/** The words of a query as search sees them (punctuation-only runs are dropped). */
function queryWords(q: string): string[] {
  return q.split(/\s+/u).filter((w) => HAS_WORD_CHARACTER.test(w));
}

/** Inside a quoted tsquery operand only `'` (doubled) and `\` (escaped) are special. */
const quoteOperand = (word: string) => `'${word.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** The tsquery text for `to_tsquery('simple', …)`, or null when the query has no word. */
export function toTsQueryText(q: string): string | null {
  const words = queryWords(q);
  if (words.length === 0) return null;
  return words.map((w, i) => quoteOperand(w) + (i === words.length - 1 ? ':*' : '')).join(' & ');
}
