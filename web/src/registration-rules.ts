const USERNAME_CHARS = /^[A-Za-z0-9_.-]+$/;

/**
 * What is wrong with a new account's username and password, in words (the browser's own
 * pattern message says only "match the requested format"): the contract's rules, username
 * 3–32 of A–Z a–z 0–9 _ . -, password 8–256 characters. Empty when both are fine.
 */
export function registrationProblems(
  username: string,
  password: string,
): { field: 'username' | 'password'; message: string }[] {
  const problems: { field: 'username' | 'password'; message: string }[] = [];
  const name = username.trim();
  const nameLength = [...name].length;
  if (nameLength < 3 || nameLength > 32) {
    problems.push({
      field: 'username',
      message: `Usernames are 3 to 32 characters long (this one has ${nameLength}).`,
    });
  }
  if (name && !USERNAME_CHARS.test(name)) {
    const bad = [...new Set([...name].filter((c) => !USERNAME_CHARS.test(c)))]
      .map((c) => (c === ' ' ? 'spaces' : `“${c}”`))
      .join(', ');
    problems.push({
      field: 'username',
      message: `Usernames may use only letters A–Z, digits, “_”, “.” and “-” (not ${bad}).`,
    });
  }
  const passLength = [...password].length;
  if (passLength < 8) {
    problems.push({
      field: 'password',
      message: `Passwords need at least 8 characters (this one has ${passLength}).`,
    });
  } else if (passLength > 256) {
    problems.push({ field: 'password', message: 'Passwords can be at most 256 characters.' });
  }
  return problems;
}
