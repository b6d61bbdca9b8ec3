import type { User } from '../../core/schemas.ts';
import { ApiError, client, setUnauthorizedHandler } from './client.ts';
import { authView } from './auth-view.ts';
import { h, replaceChildren } from './dom.ts';
import { Shell } from './shell.ts';

const root = document.getElementById('app')!;
let shell: Shell | undefined;

function showAuth(notice?: string): void {
  shell?.destroy();
  shell = undefined;
  replaceChildren(root, authView(showApp, notice));
}

function showApp(user: User): void {
  shell?.destroy();
  shell = new Shell(user, showAuth);
  replaceChildren(root, shell.element);
}

setUnauthorizedHandler(() => {
  if (shell) showAuth('Your session has ended. Please log in again.');
});

async function boot(): Promise<void> {
  try {
    const user = await client.auth.me();
    showApp(user);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showAuth();
    } else {
      replaceChildren(
        root,
        h(
          'main',
          { class: 'auth' },
          h(
            'div',
            { class: 'auth-card' },
            h('h1', {}, 'Parley'),
            h('p', { role: 'alert' }, 'The server could not be reached.'),
            h('button', { type: 'button', class: 'primary', onclick: () => void boot() }, 'Try again'),
          ),
        ),
      );
    }
  } finally {
    root.removeAttribute('aria-busy');
  }
}

void boot();
