// The window's view of Messages: the inbox, the requests, whether Messages are on, and the open
// conversation's loaded history, kept current from engine events (conversations_changed,
// message_changed, delivery_changed). Components read `messagesState`; only this module writes it.
//
// The open conversation holds a window of its history: the latest page when opened, older pages
// prepended as the user scrolls up (`loadOlder`, ListMessages with before = the first id).
// A changed message is replaced in place or added in order; a delivery change reloads the loaded
// window in one call (at most MAX_RELOAD messages).
import {
  getConversation,
  getMessagesEnabled,
  listConversations,
  listMessages,
  markRead,
  onEngineEvent,
  openDirect,
  toBackendError,
} from '../backend';
import type { ChatMessage, Conversation } from '../bindings/api';
import { placeMessage, sortConversations, totalUnread } from './format';

/** Messages per page: a screenful and a half, so the first page fills the view. */
export const PAGE = 40;
/** The engine's largest page: a reload of the loaded window asks for at most this many. */
const MAX_RELOAD = 500;

interface MessagesState {
  /** The inbox, most recent first. */
  conversations: Conversation[];
  /** Message requests waiting for an answer. */
  requests: Conversation[];
  /** Whether Messages are on (Settings). */
  enabled: boolean;
  loaded: boolean;
  error: string | null;
  /** The conversation on screen, if any. */
  openId: string | null;
  open: Conversation | null;
  /** Its loaded history, oldest first. */
  history: ChatMessage[];
  /** Whether older messages exist before `history[0]`. */
  more: boolean;
  loadingOlder: boolean;
  /** Bumped whenever the history changes at its end (new message): the view scrolls down. */
  tailVersion: number;
  /** An entry the view should scroll to and flash (a search hit, a quoted message). */
  focusEntry: string | null;
  historyError: string | null;
  /** Shared tracks being fetched from their sharer, by content hash (bytes so far, of all). */
  transfers: Record<string, { received: number; total: number }>;
}

export const messagesState: MessagesState = $state({
  conversations: [],
  requests: [],
  enabled: true,
  loaded: false,
  error: null,
  openId: null,
  open: null,
  history: [],
  more: false,
  loadingOlder: false,
  tailVersion: 0,
  focusEntry: null,
  historyError: null,
  transfers: {},
});

/** Unread messages and waiting requests, for the navigation's badge. */
export function unreadTotal(): number {
  return totalUnread(messagesState.conversations, messagesState.requests);
}

let following = false;
let refreshing: Promise<void> | null = null;
let refreshAgain = false;

/** Reloads the inbox and requests (calls during a reload fold into one more). */
export function refreshConversations(): Promise<void> {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      refreshAgain = false;
      try {
        const [{ conversations, requests }, enabled] = await Promise.all([listConversations(), getMessagesEnabled()]);
        messagesState.conversations = sortConversations(conversations);
        messagesState.requests = sortConversations(requests);
        messagesState.enabled = enabled;
        messagesState.error = null;
        const openId = messagesState.openId;
        if (openId) {
          const fresh = [...conversations, ...requests].find((c) => c.id === openId);
          if (fresh) messagesState.open = fresh;
          else void refreshOpen();
        }
      } catch (error) {
        messagesState.error = toBackendError(error).message;
      } finally {
        messagesState.loaded = true;
      }
    } while (refreshAgain);
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Reloads the open conversation's header (members, name) when it is not in the lists (hidden). */
async function refreshOpen(): Promise<void> {
  const id = messagesState.openId;
  if (!id) return;
  try {
    const conversation = await getConversation(id);
    if (messagesState.openId === id) messagesState.open = conversation;
  } catch {
    // Gone (left or reported): keep what is on screen; the inbox no longer lists it.
  }
}

/** Opens a conversation at its latest page (and, if given, scrolls to `entry` once loaded). */
export async function openConversation(id: string, entry: string | null = null): Promise<void> {
  const same = messagesState.openId === id;
  messagesState.openId = id;
  messagesState.focusEntry = entry;
  messagesState.historyError = null;
  if (!same) {
    messagesState.open = [...messagesState.conversations, ...messagesState.requests].find((c) => c.id === id) ?? null;
    messagesState.history = [];
    messagesState.more = false;
  }
  try {
    const [conversation, page] = await Promise.all([getConversation(id), same && messagesState.history.length ? null : listMessages(id, undefined, PAGE)]);
    if (messagesState.openId !== id) return;
    messagesState.open = conversation;
    if (page) {
      messagesState.history = page.messages;
      messagesState.more = page.more;
      messagesState.tailVersion++;
    }
    if (entry) await reveal(entry);
    markReadIfSeen();
  } catch (error) {
    if (messagesState.openId === id) messagesState.historyError = toBackendError(error).message;
  }
}

/** Closes the chat view (back to the inbox alone). */
export function closeConversation(): void {
  messagesState.openId = null;
  messagesState.open = null;
  messagesState.history = [];
  messagesState.more = false;
  messagesState.focusEntry = null;
}

/** Loads the page before the first loaded message; true when something was added. */
export async function loadOlder(): Promise<boolean> {
  const id = messagesState.openId;
  const first = messagesState.history[0];
  if (!id || !first || !messagesState.more || messagesState.loadingOlder) return false;
  messagesState.loadingOlder = true;
  try {
    const page = await listMessages(id, first.id, PAGE);
    if (messagesState.openId !== id) return false;
    const known = new Set(messagesState.history.map((m) => m.id));
    messagesState.history = [...page.messages.filter((m) => !known.has(m.id)), ...messagesState.history];
    messagesState.more = page.more;
    return page.messages.length > 0;
  } catch (error) {
    messagesState.historyError = toBackendError(error).message;
    return false;
  } finally {
    messagesState.loadingOlder = false;
  }
}

/** At most this many older pages are loaded to reach a quoted or found message (20 × 40 = 800). */
const MAX_REVEAL_PAGES = 20;

/** Loads older pages until `entry` is in the history, then asks the view to scroll to it. */
export async function reveal(entry: string): Promise<boolean> {
  for (let i = 0; i < MAX_REVEAL_PAGES; i++) {
    if (messagesState.history.some((m) => m.id === entry)) {
      messagesState.focusEntry = entry;
      return true;
    }
    if (!(await loadOlder())) break;
  }
  const found = messagesState.history.some((m) => m.id === entry);
  messagesState.focusEntry = found ? entry : null;
  return found;
}

/** Applies a message the engine says changed (new, edited, deleted, reacted to). */
export function applyMessage(message: ChatMessage): void {
  if (message.conversation !== messagesState.openId) return;
  // A message older than the loaded window belongs to a page not loaded yet.
  const first = messagesState.history[0];
  if (first && messagesState.more && message.at < first.at && !messagesState.history.some((m) => m.id === message.id)) return;
  const { history, atEnd } = placeMessage(messagesState.history, message);
  messagesState.history = history;
  if (atEnd) messagesState.tailVersion++;
  if (!message.mine) markReadIfSeen();
}

/** Reloads the loaded window of the open conversation (delivery and read marks changed). */
async function reloadHistory(): Promise<void> {
  const id = messagesState.openId;
  if (!id) return;
  const limit = Math.min(MAX_RELOAD, Math.max(PAGE, messagesState.history.length));
  try {
    const page = await listMessages(id, undefined, limit);
    if (messagesState.openId !== id) return;
    const known = new Set(page.messages.map((m) => m.id));
    // Keep older messages loaded beyond what one reload can return.
    const firstNew = page.messages[0];
    const older = firstNew ? messagesState.history.filter((m) => m.at < firstNew.at && !known.has(m.id)) : [];
    const grew = page.messages.at(-1)?.id !== messagesState.history.at(-1)?.id;
    messagesState.history = [...older, ...page.messages];
    if (older.length === 0) messagesState.more = page.more;
    if (grew) messagesState.tailVersion++;
  } catch (error) {
    messagesState.historyError = toBackendError(error).message;
  }
}

let marking = false;

/** Marks the open conversation read if the user can see it (the window has the focus). */
export function markReadIfSeen(): void {
  const id = messagesState.openId;
  if (!id || marking || typeof document === 'undefined' || !document.hasFocus() || document.hidden) return;
  if (messagesState.open?.state === 'request') return;
  const last = messagesState.history.at(-1);
  const unread = messagesState.open?.unread ?? 0;
  if (unread === 0 && (!last || last.mine)) return;
  marking = true;
  void markRead(id)
    .catch(() => {
      // Read marks are a courtesy: a failure here is retried on the next message or focus.
    })
    .finally(() => {
      marking = false;
    });
}

/** Loads the inbox once and follows the engine's message events from then on. */
export async function followMessages(): Promise<void> {
  if (following) return;
  following = true;
  if (typeof window !== 'undefined') {
    window.addEventListener('focus', () => markReadIfSeen());
    document.addEventListener('visibilitychange', () => markReadIfSeen());
  }
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'conversations_changed':
        void refreshConversations();
        break;
      case 'message_changed': {
        const { type: _type, ...message } = event;
        applyMessage(message);
        break;
      }
      case 'transfer_progress':
        messagesState.transfers[event.hash] = { received: event.received, total: event.total };
        break;
      case 'delivery_changed':
        if (event.conversation === messagesState.openId) void reloadHistory();
        break;
      case 'friend_added':
      case 'friend_updated':
      case 'friend_removed':
      case 'blocked_changed':
        // Names and online dots in the inbox and the header.
        void refreshConversations();
        break;
    }
  });
  await refreshConversations();
}

/** Opens (creating if needed) the 1:1 conversation with a friend. */
export async function startDirect(peerId: string): Promise<void> {
  try {
    const conversation = await openDirect(peerId);
    await openConversation(conversation.id);
    void refreshConversations();
  } catch (error) {
    messagesState.error = toBackendError(error).message;
  }
}
