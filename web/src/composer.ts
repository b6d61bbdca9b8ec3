import type { Attachment } from '../../core/schemas.ts';
import { formatBytes, h, icon, replaceChildren, uid } from './dom.ts';
import { uploadFile, UploadError, type UploadHandle } from './upload.ts';

const TYPING_IDLE_MS = 3_000;
const MAX_TEXT = 4000;

export interface ComposerDeps {
  roomId: string;
  roomName: string;
  /** Files dropped anywhere on this element are attached. */
  dropTarget: HTMLElement;
  /** Whether typing notices can go out now (the room is joined). */
  canType(): boolean;
  onTyping(typing: boolean): void;
  onSend(text: string, attachment: Attachment | undefined): void;
  notify(text: string): void;
}

interface UploadState {
  handle: UploadHandle;
  attachment?: Attachment;
}

/**
 * The message box: Enter sends, Shift+Enter breaks the line; a file picked or dropped is
 * uploaded at once with a progress bar and goes out with the next message. Typing notices
 * start with the first keystroke and stop after a pause, on blur, or on send.
 */
export class Composer {
  readonly element: HTMLFormElement;
  private readonly textarea: HTMLTextAreaElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly uploadArea: HTMLElement;
  private upload: UploadState | undefined;
  private typingSent = false;
  private typingIdle: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly deps: ComposerDeps) {
    const textareaId = uid('composer');
    const fileId = uid('file');
    this.textarea = h('textarea', {
      id: textareaId,
      rows: 1,
      maxlength: MAX_TEXT,
      placeholder: 'Write a message…',
      autocomplete: 'off',
      enterkeyhint: 'send',
    });
    const fileInput = h('input', { type: 'file', id: fileId, class: 'visually-hidden' });
    this.sendButton = h('button', { type: 'submit', class: 'primary send' }, 'Send');
    this.uploadArea = h('div', { class: 'upload-area' });
    this.element = h(
      'form',
      { class: 'composer', 'aria-label': 'Send a message' },
      this.uploadArea,
      h(
        'div',
        { class: 'composer-row' },
        h(
          'label',
          { class: 'attach icon-button', for: fileId, title: 'Attach a file' },
          icon('paperclip'),
          h('span', { class: 'visually-hidden' }, 'Attach a file'),
        ),
        fileInput,
        h('label', { for: textareaId, class: 'visually-hidden' }, `Message ${deps.roomName}`),
        this.textarea,
        this.sendButton,
      ),
    );

    this.element.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    this.textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.textarea.addEventListener('input', () => {
      this.autosize();
      this.updateSendState();
      this.noteTyping();
    });
    this.textarea.addEventListener('blur', () => this.stopTyping());
    fileInput.addEventListener('change', () => {
      const file = fileInput.files?.[0];
      fileInput.value = '';
      if (file) this.attach(file);
    });
    this.setupDrop(deps.dropTarget);
    this.updateSendState();
  }

  focus(): void {
    this.textarea.focus();
  }

  /** The connection dropped: the server has ended our typing already. */
  forgetTyping(): void {
    clearTimeout(this.typingIdle);
    this.typingSent = false;
  }

  stopTyping(): void {
    clearTimeout(this.typingIdle);
    if (!this.typingSent) return;
    this.typingSent = false;
    this.deps.onTyping(false);
  }

  destroy(): void {
    this.stopTyping();
    this.clearUpload();
  }

  private send(): void {
    const text = this.textarea.value.trim();
    const upload = this.upload;
    if (upload && !upload.attachment) {
      this.deps.notify('Wait for the upload to finish, or remove the attachment.');
      return;
    }
    if (!text && !upload?.attachment) return;
    if ([...text].length > MAX_TEXT) {
      this.deps.notify(`Messages are limited to ${MAX_TEXT} characters.`);
      return;
    }
    this.textarea.value = '';
    this.autosize();
    this.upload = undefined;
    this.uploadArea.replaceChildren();
    // The server ends our typing when the message arrives.
    this.forgetTyping();
    this.updateSendState();
    this.deps.onSend(text, upload?.attachment);
  }

  private noteTyping(): void {
    if (!this.deps.canType()) return;
    if (this.textarea.value.trim() === '') {
      this.stopTyping();
      return;
    }
    if (!this.typingSent) {
      this.typingSent = true;
      this.deps.onTyping(true);
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private updateSendState(): void {
    const uploading = this.upload !== undefined && !this.upload.attachment;
    const hasContent = this.textarea.value.trim().length > 0 || this.upload?.attachment !== undefined;
    this.sendButton.disabled = uploading || !hasContent;
    this.sendButton.title = uploading ? 'Waiting for the upload to finish' : '';
  }

  private autosize(): void {
    this.textarea.style.height = 'auto';
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, 160)}px`;
  }

  private setupDrop(target: HTMLElement): void {
    let depth = 0;
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false;
    target.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return;
      depth++;
      target.classList.add('dropping');
    });
    target.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) target.classList.remove('dropping');
    });
    target.addEventListener('dragover', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    });
    target.addEventListener('drop', (e) => {
      depth = 0;
      target.classList.remove('dropping');
      const file = e.dataTransfer?.files[0];
      if (!file) return;
      e.preventDefault();
      this.attach(file);
    });
  }

  private attach(file: File): void {
    this.clearUpload();
    const progress = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
    const status = h('span', { class: 'upload-status' }, 'Uploading…');
    const remove = h(
      'button',
      {
        type: 'button',
        class: 'icon-button',
        'aria-label': `Remove attachment ${file.name}`,
        onclick: () => this.clearUpload(),
      },
      icon('close'),
    );
    const chip = h(
      'div',
      { class: 'upload-chip', 'data-testid': 'upload' },
      h('span', { class: 'upload-name' }, `${file.name} · ${formatBytes(file.size)}`),
      progress,
      status,
      remove,
    );
    replaceChildren(this.uploadArea, chip);
    const handle = uploadFile(this.deps.roomId, file, (f) => {
      progress.value = f;
      status.textContent = `${Math.round(f * 100)}%`;
    });
    const state: UploadState = { handle };
    this.upload = state;
    this.updateSendState();
    handle.promise.then(
      (attachment) => {
        if (this.upload !== state) return;
        state.attachment = attachment;
        progress.value = 1;
        status.textContent = 'Ready to send';
        chip.classList.add('ready');
        this.updateSendState();
        this.textarea.focus();
      },
      (err: unknown) => {
        if (this.upload !== state) return;
        if (err instanceof UploadError && err.cancelled) return;
        this.upload = undefined;
        this.updateSendState();
        progress.remove();
        chip.classList.add('error');
        chip.setAttribute('role', 'alert');
        status.textContent = err instanceof Error ? err.message : 'Upload failed.';
        remove.setAttribute('aria-label', 'Dismiss');
      },
    );
  }

  private clearUpload(): void {
    if (this.upload && !this.upload.attachment) this.upload.handle.cancel();
    this.upload = undefined;
    this.uploadArea.replaceChildren();
    this.updateSendState();
  }
}
