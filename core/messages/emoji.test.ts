import { describe, expect, it } from 'vitest';
import { isOneEmoji } from './emoji.ts';

describe('isOneEmoji', () => {
  it.each([
    ['👍', 'a plain emoji'],
    ['😀', 'a face'],
    ['🎉', 'party popper'],
    ['❤️', 'heart with VS16'],
    ['❤', 'heart without VS16 (text-default pictograph)'],
    ['☺️', 'smiling face with VS16'],
    ['✌️', 'victory hand'],
    ['👍🏽', 'thumbs up with a skin tone'],
    ['✌🏿', 'text-default base with a skin tone'],
    ['👩‍💻', 'ZWJ sequence (woman technologist)'],
    ['👨‍👩‍👧‍👦', 'family ZWJ sequence'],
    ['🧑🏻‍🤝‍🧑🏿', 'people holding hands with two skin tones'],
    ['🏳️‍🌈', 'rainbow flag (VS16 inside a ZWJ sequence)'],
    ['🏴‍☠️', 'pirate flag'],
    ['❤️‍🔥', 'heart on fire'],
    ['🇫🇷', 'regional-indicator flag'],
    ['🇺🇳', 'another flag'],
    ['🏴󠁧󠁢󠁳󠁣󠁴󠁿', 'subdivision flag (Scotland, tag sequence)'],
    ['1️⃣', 'keycap one'],
    ['#️⃣', 'keycap number sign'],
    ['*⃣', 'keycap asterisk without VS16'],
    ['🫠', 'a recent emoji (melting face)'],
  ])('accepts %s (%s)', (emoji) => {
    expect(isOneEmoji(emoji)).toBe(true);
  });

  it.each([
    ['', 'empty'],
    [' ', 'a space'],
    ['\u00a0', 'no-break space'],
    ['\u200d', 'a lone ZERO WIDTH JOINER'],
    ['\ufe0f', 'a lone VS16'],
    ['a', 'a letter'],
    ['ok', 'a word'],
    ['1', 'a digit (emoji-capable but text)'],
    ['#', 'a number sign'],
    ['1️', 'a digit with VS16 but no keycap'],
    [':+1:', 'a shortcode'],
    ['👍👍', 'two emoji'],
    ['👍🎉', 'two different emoji'],
    ['🇫🇷🇩🇪', 'two flags'],
    ['👍 ', 'emoji and a trailing space'],
    [' 👍', 'emoji and a leading space'],
    ['👍a', 'emoji and a letter'],
    ['a\u0301', 'a letter with a combining accent (one grapheme, not an emoji)'],
    ['🇫', 'a lone regional indicator'],
    ['🏽', 'a lone skin tone'],
    ['中', 'a CJK character'],
    ['\u{1FFFD}', 'an unassigned pictographic code point'],
    ['<script>', 'markup'],
    ['\u0000', 'NUL'],
    ['👍\n', 'emoji and a newline'],
    ['\ud83d', 'a lone surrogate'],
  ])('refuses %j (%s)', (text) => {
    expect(isOneEmoji(text)).toBe(false);
  });

  it('refuses overlong input without scanning it all', () => {
    expect(isOneEmoji('👍'.repeat(10_000))).toBe(false);
  });
});
