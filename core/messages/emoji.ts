/**
 * What counts as one emoji for a reaction: exactly one grapheme cluster (as a user perceives
 * one character, per Intl.Segmenter) whose code points form an emoji by Unicode properties.
 * Structural rather than a list of recommended sequences (`\p{RGI_Emoji}`), so emoji newer
 * than this Node's Unicode tables still pass when they are built the standard way.
 */

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

// One pictograph: a modifier base with a skin tone; an emoji-presentation character (not a
// lone skin tone or regional indicator); or any other emoji pictograph (e.g. ❤ ☺), each
// optionally with the emoji-presentation selector VS16.
const PICTOGRAPH =
  '(?:\\p{Emoji_Modifier_Base}\\uFE0F?\\p{Emoji_Modifier}' +
  '|(?!\\p{Emoji_Modifier}|\\p{Regional_Indicator})\\p{Emoji_Presentation}\\uFE0F?' +
  '|(?=\\p{Emoji})\\p{Extended_Pictographic}\\uFE0F?)';

const EMOJI = new RegExp(
  '^(?:' +
    // A flag: two regional indicators.
    '\\p{Regional_Indicator}{2}' +
    // A keycap: digit, # or *, optional VS16, the combining enclosing keycap.
    '|[0-9#*]\\uFE0F?\\u20E3' +
    // A subdivision flag: black flag, tag letters, cancel tag (🏴 England, Scotland, Wales).
    '|\\u{1F3F4}[\\u{E0020}-\\u{E007E}]+\\u{E007F}' +
    // Pictographs joined by ZERO WIDTH JOINER (👩‍💻, 🏳️‍🌈, families).
    `|${PICTOGRAPH}(?:\\u200D${PICTOGRAPH})*` +
    ')$',
  'u',
);

/** True when `s` is exactly one emoji (one grapheme cluster that is an emoji). */
export function isOneEmoji(s: string): boolean {
  if (s.length === 0 || s.length > 64) return false;
  let graphemes = 0;
  for (const _ of segmenter.segment(s)) {
    if (++graphemes > 1) return false;
  }
  return EMOJI.test(s);
}
