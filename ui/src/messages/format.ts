// Pure helpers for the Messages window: links in text, highlighted search snippets, times, the
// unread badge, delivery wording and the composer's limit. No DOM and no engine calls here, so
// every rule is tested in format.test.ts.
import type { ChatMessage, Conversation, Delivery } from '../bindings/api';

/** The engine's limit on a message (Unicode characters, as the engine counts them). */
export const MAX_MESSAGE_CHARS = 4000;
/** The composer shows its counter from this many characters on. */
export const COUNTER_FROM = 3500;

/** A piece of a message's text: plain text, or a link the window may open. */
export type TextPart = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// A candidate link: a scheme we open, then everything up to whitespace or a character that
// cannot end an address in running text. Trailing punctuation is trimmed below.
const LINK = /\b(?:https?:\/\/|earshot:\/\/)[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'"*_~]+$/;

/** Cuts closing brackets that the link did not open ("(see https://a.b/c)" keeps "c"). */
function trimLink(candidate: string): string {
  let link = candidate.replace(TRAILING, '');
  for (;;) {
    const last = link.at(-1);
    const open = last === ')' ? '(' : last === ']' ? '[' : last === '}' ? '{' : null;
    if (!open) return link;
    const opens = link.split(open).length - 1;
    const closes = link.split(last!).length - 1;
    if (closes <= opens) return link;
    link = link.slice(0, -1).replace(TRAILING, '');
  }
}

/** The address a link may open, or null: only http, https and earshot, and only well-formed. */
export function safeHref(candidate: string): string | null {
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  const scheme = url.protocol.toLowerCase();
  if (scheme === 'http:' || scheme === 'https:') return url.hostname ? url.href : null;
  if (scheme === 'earshot:') return candidate;
  return null;
}

/**
 * Splits a message into text and links. The window renders each part as a text node or an
 * anchor, never as HTML, so a message cannot inject markup.
 */
export function splitLinks(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let from = 0;
  const push = (t: string) => {
    if (!t) return;
    const last = parts.at(-1);
    if (last && last.kind === 'text') last.text += t;
    else parts.push({ kind: 'text', text: t });
  };
  for (const match of text.matchAll(LINK)) {
    const start = match.index;
    const link = trimLink(match[0]);
    const href = safeHref(link);
    if (!href) continue;
    push(text.slice(from, start));
    parts.push({ kind: 'link', text: link, href });
    from = start + link.length;
  }
  push(text.slice(from));
  return parts;
}

/** A piece of a search snippet, highlighted when it matched. */
export interface SnippetPart {
  text: string;
  hit: boolean;
}

const HIT_START = '\uE000';
const HIT_END = '\uE001';

/**
 * Splits a search snippet on the engine's markers (U+E000 opens a match, U+E001 closes it) into
 * plain and highlighted parts; a marker left open highlights to the end.
 */
export function highlightSnippet(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  let hit = false;
  let current = '';
  const flush = () => {
    if (current) parts.push({ text: current, hit });
    current = '';
  };
  for (const ch of snippet) {
    if (ch === HIT_START || ch === HIT_END) {
      flush();
      hit = ch === HIT_START;
    } else {
      current += ch;
    }
  }
  flush();
  return parts;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function startOfDay(ms: number): number {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

/** Whole calendar days from `then` to `now` (0 = same day, 1 = yesterday), in local time. */
export function daysBetween(then: number, now: number): number {
  return Math.round((startOfDay(now) - startOfDay(then)) / 86_400_000);
}

/** "14:05", local time. */
export function clockTime(at: number): string {
  const d = new Date(at);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function shortDate(at: number, now: number): string {
  const d = new Date(at);
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return `${d.getDate()} ${MONTHS[d.getMonth()]}${sameYear ? '' : ` ${d.getFullYear()}`}`;
}

/** The inbox's time for the last message: "14:05" today, "Yesterday", "Tuesday" this week, else "3 Mar". */
export function inboxTime(at: number, now: number): string {
  const days = daysBetween(at, now);
  if (days <= 0) return clockTime(at);
  if (days === 1) return 'Yesterday';
  if (days < 7) return WEEKDAYS[new Date(at).getDay()]!.slice(0, 3);
  return shortDate(at, now);
}

/** The separator above a day's messages: "Today", "Yesterday", "Tuesday", "3 Mar 2025". */
export function dayLabel(at: number, now: number): string {
  const days = daysBetween(at, now);
  if (days <= 0) return 'Today';
  if (days === 1) return 'Yesterday';
  if (days < 7) return WEEKDAYS[new Date(at).getDay()]!;
  return shortDate(at, now);
}

/** The navigation's unread badge: nothing for 0, the count up to 99, then "99+". */
export function unreadBadge(count: number): string | null {
  if (!Number.isFinite(count) || count <= 0) return null;
  return count > 99 ? '99+' : String(Math.floor(count));
}

/** Unread messages over the inbox, plus one per message request waiting for an answer. */
export function totalUnread(conversations: Conversation[], requests: Conversation[]): number {
  return conversations.reduce((sum, c) => sum + (c.state === 'active' ? c.unread : 0), 0) + requests.length;
}

/** The inbox order: the most recent message first; conversations with none last, by title. */
export function sortConversations(conversations: Conversation[]): Conversation[] {
  return [...conversations].sort((a, b) => {
    const byTime = (b.last_at ?? -Infinity) - (a.last_at ?? -Infinity);
    if (byTime !== 0 && !Number.isNaN(byTime)) return byTime;
    return a.title.localeCompare(b.title);
  });
}

/** How far one of the user's own messages got: "Sent", "Delivered", "Delivered to 2", "Read", "Read by 2". */
export function deliveryLabel(delivery: Delivery | null, group: boolean): string {
  if (!delivery) return '';
  if (delivery.of === 0) return 'Sent';
  if (delivery.read > 0) {
    if (!group) return 'Read';
    return delivery.read >= delivery.of ? 'Read by everyone' : `Read by ${delivery.read}`;
  }
  if (delivery.delivered > 0) {
    if (!group) return 'Delivered';
    return delivery.delivered >= delivery.of ? 'Delivered to everyone' : `Delivered to ${delivery.delivered}`;
  }
  return 'Sent';
}

/** Characters as the engine counts them (Unicode scalar values, not UTF-16 units). */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** The composer's counter: null while far from the limit, else "3,612 / 4,000" and whether it is over. */
export function composerCounter(text: string): { label: string; over: boolean } | null {
  const count = charCount(text.trim());
  if (count < COUNTER_FROM) return null;
  return { label: `${count.toLocaleString('en-US')} / ${MAX_MESSAGE_CHARS.toLocaleString('en-US')}`, over: count > MAX_MESSAGE_CHARS };
}

/** Whether the composer may send `text`: something besides spaces, within the limit. */
export function canSend(text: string): boolean {
  const count = charCount(text.trim());
  return count > 0 && count <= MAX_MESSAGE_CHARS;
}

/**
 * Puts a message into the loaded history (oldest first): replaced in place when it changed,
 * else inserted in time order; `atEnd` when it is the newest.
 */
export function placeMessage(history: ChatMessage[], message: ChatMessage): { history: ChatMessage[]; atEnd: boolean } {
  const index = history.findIndex((m) => m.id === message.id);
  if (index !== -1) {
    const next = [...history];
    next[index] = message;
    return { history: next, atEnd: false };
  }
  let at = history.length;
  while (at > 0 && history[at - 1]!.at > message.at) at--;
  const next = [...history.slice(0, at), message, ...history.slice(at)];
  return { history: next, atEnd: at === history.length };
}

/** The emoji the picker offers, most used first. */
export const COMMON_EMOJI = [
  '👍', '❤️', '😂', '😮', '😢', '🙏', '🔥', '🎉',
  '😀', '😊', '😍', '🤔', '😎', '🥲', '😅', '🙌',
  '👏', '👀', '💯', '✨', '🎵', '🎶', '🎧', '🎸',
  '🥁', '🎹', '🎤', '💃', '🕺', '☕', '🌙', '👋',
];

/** The reactions shown one click away under a message. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🔥'];
