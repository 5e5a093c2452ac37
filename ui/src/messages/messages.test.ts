import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage, Conversation, Event } from '../bindings/api';

// The engine, as the Messages view sees it: a conversation with 100 messages, pages served from it.
const message = (n: number, conversation = 'c1'): ChatMessage => ({
  id: `m${n}`,
  conversation,
  kind: 'text',
  author: 'peer',
  author_name: 'Robin',
  mine: false,
  at: 1_000 * n,
  text: `message ${n}`,
  share: null,
  reply_to: null,
  edited: false,
  deleted: false,
  reactions: [],
  delivery: null,
});
const conversation: Conversation = {
  id: 'c1',
  kind: 'direct',
  state: 'active',
  title: 'Robin',
  peer_id: 'peer',
  online: true,
  messages_off: false,
  members: [],
  last: 'message 99',
  last_at: 99_000,
  unread: 3,
  shared_groups: [],
  can_manage: false,
};
const all = Array.from({ length: 100 }, (_, i) => message(i));

let emit: (event: Event) => void = () => {};
const backend = vi.hoisted(() => ({
  listConversations: vi.fn(),
  getConversation: vi.fn(),
  getMessagesEnabled: vi.fn(async () => true),
  listMessages: vi.fn(),
  markRead: vi.fn(async () => {}),
  openDirect: vi.fn(),
}));
vi.mock('../backend', () => ({
  ...backend,
  onEngineEvent: vi.fn(async (handler: (event: Event) => void) => {
    emit = handler;
    return () => {};
  }),
  toBackendError: (error: unknown) => ({ message: String(error) }),
}));

const { followMessages, loadOlder, messagesState, openConversation, reveal, unreadTotal } = await import('./messages.svelte');
const { placeMessage } = await import('./format');

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the Messages view', () => {
  beforeEach(async () => {
    backend.listConversations.mockResolvedValue({ conversations: [conversation], requests: [] });
    backend.getConversation.mockResolvedValue(conversation);
    backend.listMessages.mockImplementation(async (_c: string, before?: string, limit = 40) => {
      const end = before ? all.findIndex((m) => m.id === before) : all.length;
      const start = Math.max(0, end - limit);
      return { messages: all.slice(start, end), more: start > 0 };
    });
    await followMessages();
    await settle();
  });

  it('opens at the latest page and loads older pages before the first message', async () => {
    await openConversation('c1');
    expect(messagesState.history.map((m) => m.id).slice(-1)).toEqual(['m99']);
    expect(messagesState.history).toHaveLength(40);
    expect(messagesState.more).toBe(true);
    expect(await loadOlder()).toBe(true);
    expect(backend.listMessages).toHaveBeenLastCalledWith('c1', 'm60', 40);
    expect(messagesState.history[0]!.id).toBe('m20');
    expect(messagesState.history).toHaveLength(80);
  });

  it('loads older pages until a quoted message is there', async () => {
    await openConversation('c1');
    expect(await reveal('m5')).toBe(true);
    expect(messagesState.history[0]!.id).toBe('m0');
    expect(messagesState.more).toBe(false);
    expect(messagesState.focusEntry).toBe('m5');
  });

  it('adds a new message at the end, replaces a changed one, and ignores other conversations', async () => {
    await openConversation('c1');
    const tail = messagesState.tailVersion;
    emit({ type: 'message_changed', ...message(100) });
    expect(messagesState.history.at(-1)!.id).toBe('m100');
    expect(messagesState.tailVersion).toBe(tail + 1);
    emit({ type: 'message_changed', ...message(99), text: 'edited', edited: true });
    expect(messagesState.history.find((m) => m.id === 'm99')!.text).toBe('edited');
    expect(messagesState.tailVersion).toBe(tail + 1);
    const length = messagesState.history.length;
    emit({ type: 'message_changed', ...message(101, 'other') });
    expect(messagesState.history).toHaveLength(length);
  });

  it('counts unread messages and requests for the badge', async () => {
    backend.listConversations.mockResolvedValue({ conversations: [conversation], requests: [{ ...conversation, id: 'r1', state: 'request', unread: 5 }] });
    emit({ type: 'conversations_changed' });
    await settle();
    expect(unreadTotal()).toBe(4);
  });
});

describe('placing a message in the history', () => {
  it('inserts a late-arriving older message in time order', () => {
    const { history, atEnd } = placeMessage([message(1), message(3)], message(2));
    expect(history.map((m) => m.id)).toEqual(['m1', 'm2', 'm3']);
    expect(atEnd).toBe(false);
  });

  it('appends the newest and says so', () => {
    const { history, atEnd } = placeMessage([message(1)], message(2));
    expect(history.map((m) => m.id)).toEqual(['m1', 'm2']);
    expect(atEnd).toBe(true);
  });
});
