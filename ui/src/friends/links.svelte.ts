// Links ask before they act. Every `earshot://` link (given on the command line, clicked while
// Earshot runs, or pasted on the Friends page) comes here; the window reads it without acting
// (`inspect_link`: who sent it, where they stand with us), asks the user, and redeems it only on
// their "Add friend". One link is shown at a time; others wait in order. Components read
// `linkState`; only this module writes it.
import { inspectLink, onLinksPending, redeemInvite, takePendingLinks, toBackendError } from '../backend';
import type { LinkPreview } from '../bindings/api';

export type LinkStep =
  /** Reading the link (no network). */
  | { step: 'reading' }
  /** Waiting for the user's answer. */
  | { step: 'ask'; preview: LinkPreview }
  /** The user said yes: redeeming over the network. */
  | { step: 'adding'; preview: LinkPreview }
  | { step: 'added'; preview: LinkPreview; name: string }
  | { step: 'failed'; preview: LinkPreview | null; message: string };

interface LinkState {
  /** The link on screen, if any. */
  current: { link: string; step: LinkStep } | null;
  /** Links waiting behind it, oldest first. */
  queue: string[];
}

export const linkState: LinkState = $state({ current: null, queue: [] });

/** At most this many links wait behind the one on screen (the shell bounds its queue too). */
const MAX_QUEUED = 16;

/** Shows the confirmation for `link`, or queues it behind the one on screen. */
export function openLink(link: string): void {
  const trimmed = link.trim();
  if (!trimmed) return;
  // One click can arrive twice (see src-tauri/src/links.rs); ask once.
  if (linkState.current?.link === trimmed || linkState.queue.includes(trimmed)) return;
  if (linkState.current) {
    if (linkState.queue.length < MAX_QUEUED) linkState.queue.push(trimmed);
    return;
  }
  void read(trimmed);
}

async function read(link: string): Promise<void> {
  linkState.current = { link, step: { step: 'reading' } };
  let step: LinkStep;
  try {
    step = { step: 'ask', preview: await inspectLink(link) };
  } catch (error) {
    step = { step: 'failed', preview: null, message: toBackendError(error).message };
  }
  if (linkState.current?.link === link) linkState.current.step = step;
}

/**
 * The user confirmed (or, after a failure such as an unreachable inviter, tries again): redeem the
 * link on screen. Resolves with the new friend's name, if added.
 */
export async function confirmLink(): Promise<string | null> {
  const current = linkState.current;
  if (!current) return null;
  const { step: state } = current;
  const preview = state.step === 'ask' || state.step === 'failed' ? state.preview : null;
  if (!preview) return null;
  const { link } = current;
  current.step = { step: 'adding', preview };
  let step: LinkStep;
  try {
    const friend = await redeemInvite(link);
    step = { step: 'added', preview, name: friend.display_name };
  } catch (error) {
    step = { step: 'failed', preview, message: toBackendError(error).message };
  }
  if (linkState.current?.link === link) linkState.current.step = step;
  return step.step === 'added' ? step.name : null;
}

/** Closes the link on screen (cancel, or done) and shows the next one waiting. */
export function closeLink(): void {
  linkState.current = null;
  const next = linkState.queue.shift();
  if (next) void read(next);
}

let following = false;

/** Takes the links the shell kept (those given before the window loaded) and every later one. */
export async function followLinks(): Promise<void> {
  if (following) return;
  following = true;
  await onLinksPending(() => void takeLinks());
  await takeLinks();
}

async function takeLinks(): Promise<void> {
  try {
    for (const link of await takePendingLinks()) openLink(link);
  } catch (error) {
    if (!linkState.current) {
      linkState.current = { link: '', step: { step: 'failed', preview: null, message: toBackendError(error).message } };
    }
  }
}
