import type { User } from '../../core/schemas.ts';
import { ApiError, client } from './client.ts';
import { h, uid } from './dom.ts';
import { registrationProblems } from './registration-rules.ts';

/** Log in / create account. The server sets the httpOnly session cookie on success. */
export function authView(onSignedIn: (user: User) => void, notice?: string): HTMLElement {
  let mode: 'login' | 'register' = 'login';

  const userId = uid('username');
  const passId = uid('password');
  const hintId = uid('hint');
  const username = h('input', {
    id: userId,
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
    maxlength: 32,
  });
  const password = h('input', {
    id: passId,
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
    'aria-describedby': hintId,
  });
  const hint = h('p', { id: hintId, class: 'hint' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' });
  const title = h('h1', {}, 'Parley');
  const headingId = uid('auth-title');
  const heading = h('h2', { id: headingId });
  const switchButton = h('button', { type: 'button', class: 'link-button' });

  const render = () => {
    const login = mode === 'login';
    heading.textContent = login ? 'Log in' : 'Create an account';
    submit.textContent = login ? 'Log in' : 'Create account';
    switchButton.textContent = login ? 'New here? Create an account' : 'Already have an account? Log in';
    password.autocomplete = login ? 'current-password' : 'new-password';
    hint.textContent = login
      ? ''
      : 'Username: 3–32 letters, digits, _ . or -. Password: at least 8 characters.';
    // Register: no maxlength, so a pasted name that is too long is explained, not cut.
    username.maxLength = login ? 32 : 64;
    error.textContent = '';
    username.removeAttribute('aria-invalid');
    password.removeAttribute('aria-invalid');
  };

  switchButton.addEventListener('click', () => {
    mode = mode === 'login' ? 'register' : 'login';
    render();
    username.focus();
  });

  const form = h(
    'form',
    { class: 'auth-form stack', 'aria-labelledby': headingId },
    heading,
    notice ? h('p', { class: 'notice-inline', role: 'status' }, notice) : null,
    h('label', { for: userId }, 'Username'),
    username,
    h('label', { for: passId }, 'Password'),
    password,
    hint,
    error,
    submit,
    switchButton,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      error.textContent = '';
      username.removeAttribute('aria-invalid');
      password.removeAttribute('aria-invalid');
      if (mode === 'register') {
        // Checked here, with the reason in words, before the server says the same.
        const problems = registrationProblems(username.value, password.value);
        if (problems.length > 0) {
          error.textContent = problems.map((p) => p.message).join(' ');
          for (const p of problems)
            (p.field === 'username' ? username : password).setAttribute('aria-invalid', 'true');
          (problems[0]!.field === 'username' ? username : password).focus();
          return;
        }
      }
      submit.disabled = true;
      try {
        const user =
          mode === 'login'
            ? await client.auth.login(username.value.trim(), password.value)
            : await client.auth.register(username.value.trim(), password.value);
        onSignedIn(user);
      } catch (err) {
        error.textContent = explain(err, mode);
        password.select();
      } finally {
        submit.disabled = false;
      }
    })();
  });

  render();
  queueMicrotask(() => username.focus());
  return h(
    'main',
    { class: 'auth' },
    h(
      'div',
      { class: 'auth-card' },
      title,
      h('p', { class: 'tagline' }, 'Rooms, history, pictures: talk in real time.'),
      form,
    ),
  );
}

function explain(err: unknown, mode: 'login' | 'register'): string {
  if (!(err instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (err.code) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'username_taken':
      return 'That username is taken; pick another one.';
    case 'rate_limited': {
      const s = err.retryAfterMs ? Math.ceil(err.retryAfterMs / 1000) : undefined;
      return `Too many attempts. Try again${s ? ` in ${s > 90 ? `${Math.ceil(s / 60)} minutes` : `${s} seconds`}` : ' later'}.`;
    }
    case 'invalid_request':
      return mode === 'register'
        ? 'Usernames are 3–32 letters, digits, _ . or -; passwords at least 8 characters.'
        : err.message;
    default:
      return err.message;
  }
}
