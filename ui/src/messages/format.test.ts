import { describe, expect, it } from 'vitest';
import type { Conversation } from '../bindings/api';
import {
  canSend,
  charCount,
  clockTime,
  composerCounter,
  dayLabel,
  deliveryLabel,
  highlightSnippet,
  inboxTime,
  safeHref,
  sortConversations,
  splitLinks,
  totalUnread,
  unreadBadge,
} from './format';

const conversation = (title: string, last_at: number | null, unread = 0, state: Conversation['state'] = 'active'): Conversation => ({
  id: title,
  kind: 'direct',
  state,
  title,
  peer_id: null,
  online: false,
  messages_off: false,
  members: [],
  last: null,
  last_at,
  unread,
  shared_groups: [],
  can_manage: false,
});

describe('links in message text', () => {
  it('leaves text without links as one text part', () => {
    expect(splitLinks('just words')).toEqual([{ kind: 'text', text: 'just words' }]);
    expect(splitLinks('')).toEqual([]);
  });

  it('finds http, https and earshot links between words', () => {
    expect(splitLinks('see https://example.com/a?b=1 and earshot://invite/XYZ now')).toEqual([
      { kind: 'text', text: 'see ' },
      { kind: 'link', text: 'https://example.com/a?b=1', href: 'https://example.com/a?b=1' },
      { kind: 'text', text: ' and ' },
      { kind: 'link', text: 'earshot://invite/XYZ', href: 'earshot://invite/XYZ' },
      { kind: 'text', text: ' now' },
    ]);
  });

  it('leaves trailing punctuation and unopened brackets out of a link', () => {
    expect(splitLinks('go to http://a.example/x.')).toEqual([
      { kind: 'text', text: 'go to ' },
      { kind: 'link', text: 'http://a.example/x', href: 'http://a.example/x' },
      { kind: 'text', text: '.' },
    ]);
    expect(splitLinks('(see https://a.example/wiki/A_(b))')[1]).toEqual({
      kind: 'link',
      text: 'https://a.example/wiki/A_(b)',
      href: 'https://a.example/wiki/A_(b)',
    });
  });

  it('never makes links of other schemes, and keeps markup as plain text', () => {
    const parts = splitLinks('javascript:alert(1) file:///etc/passwd <img src=x onerror=alert(1)>');
    expect(parts).toEqual([{ kind: 'text', text: 'javascript:alert(1) file:///etc/passwd <img src=x onerror=alert(1)>' }]);
    expect(safeHref('javascript:alert(1)')).toBeNull();
    expect(safeHref('data:text/html,hi')).toBeNull();
    expect(safeHref('https://')).toBeNull();
  });

  it('does not let a quote end a link into an attribute', () => {
    const parts = splitLinks('https://a.example/"onmouseover="x');
    expect(parts[0]).toEqual({ kind: 'link', text: 'https://a.example/', href: 'https://a.example/' });
  });
});

describe('search snippets', () => {
  it('highlights the text between the engine markers', () => {
    expect(highlightSnippet('the \uE000tide\uE001 is \uE000low\uE001!')).toEqual([
      { text: 'the ', hit: false },
      { text: 'tide', hit: true },
      { text: ' is ', hit: false },
      { text: 'low', hit: true },
      { text: '!', hit: false },
    ]);
  });

  it('keeps markup as text and tolerates an unclosed marker', () => {
    expect(highlightSnippet('<b>x</b> \uE000y')).toEqual([
      { text: '<b>x</b> ', hit: false },
      { text: 'y', hit: true },
    ]);
    expect(highlightSnippet('')).toEqual([]);
  });
});

describe('times', () => {
  const now = new Date(2026, 10, 26, 15, 30).getTime(); // Thursday 26 Nov 2026, 15:30 local

  it('shows the clock for today, then yesterday, a weekday, a date', () => {
    expect(clockTime(new Date(2026, 10, 26, 9, 5).getTime())).toBe('09:05');
    expect(inboxTime(new Date(2026, 10, 26, 0, 1).getTime(), now)).toBe('00:01');
    expect(inboxTime(new Date(2026, 10, 25, 23, 59).getTime(), now)).toBe('Yesterday');
    expect(inboxTime(new Date(2026, 10, 23, 12, 0).getTime(), now)).toBe('Mon');
    expect(inboxTime(new Date(2026, 10, 1, 12, 0).getTime(), now)).toBe('1 Nov');
    expect(inboxTime(new Date(2025, 2, 3, 12, 0).getTime(), now)).toBe('3 Mar 2025');
  });

  it('labels the days of the history', () => {
    expect(dayLabel(now - 60_000, now)).toBe('Today');
    expect(dayLabel(new Date(2026, 10, 25, 8, 0).getTime(), now)).toBe('Yesterday');
    expect(dayLabel(new Date(2026, 10, 22, 8, 0).getTime(), now)).toBe('Sunday');
  });
});

describe('unread counts', () => {
  it('badges nothing for zero, the count, then 99+', () => {
    expect(unreadBadge(0)).toBeNull();
    expect(unreadBadge(-3)).toBeNull();
    expect(unreadBadge(1)).toBe('1');
    expect(unreadBadge(99)).toBe('99');
    expect(unreadBadge(100)).toBe('99+');
  });

  it('sums the inbox and counts each waiting request once', () => {
    const inbox = [conversation('a', 1, 2), conversation('b', 2, 3), conversation('c', 3, 5, 'hidden')];
    expect(totalUnread(inbox, [conversation('r', 4, 7, 'request')])).toBe(6);
  });

  it('lists the most recent conversation first, silent ones last', () => {
    const sorted = sortConversations([conversation('old', 10), conversation('none', null), conversation('new', 20)]);
    expect(sorted.map((c) => c.title)).toEqual(['new', 'old', 'none']);
  });
});

describe('delivery and the composer', () => {
  it('words how far a message got', () => {
    expect(deliveryLabel(null, false)).toBe('');
    expect(deliveryLabel({ delivered: 0, read: 0, of: 1 }, false)).toBe('Sent');
    expect(deliveryLabel({ delivered: 1, read: 0, of: 1 }, false)).toBe('Delivered');
    expect(deliveryLabel({ delivered: 1, read: 1, of: 1 }, false)).toBe('Read');
    expect(deliveryLabel({ delivered: 1, read: 0, of: 2 }, true)).toBe('Delivered to 1');
    expect(deliveryLabel({ delivered: 2, read: 0, of: 2 }, true)).toBe('Delivered to everyone');
    expect(deliveryLabel({ delivered: 2, read: 1, of: 2 }, true)).toBe('Read by 1');
  });

  it('counts characters as the engine does and shows the counter near the limit', () => {
    expect(charCount('é😀')).toBe(2);
    expect(composerCounter('a'.repeat(100))).toBeNull();
    expect(composerCounter('a'.repeat(3600))).toEqual({ label: '3,600 / 4,000', over: false });
    expect(composerCounter('😀'.repeat(4001))).toEqual({ label: '4,001 / 4,000', over: true });
    expect(canSend('  ')).toBe(false);
    expect(canSend('😀'.repeat(4000))).toBe(true);
    expect(canSend('a'.repeat(4001))).toBe(false);
  });
});
