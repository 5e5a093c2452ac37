import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Event, PlayerState, QueueState, Track } from '../bindings/api';

let emit: (event: Event) => void = () => {};
const track = (n: number): Track => ({
  hash: `h${n}`,
  path: `/music/${n}.flac`,
  title: `Song ${n}`,
  artists: ['A'],
  artist: 'A',
  album: 'X',
  album_artist: 'A',
  track_no: n,
  track_total: null,
  disc_no: null,
  disc_total: null,
  compilation: false,
  year: null,
  genre: '',
  duration_ms: 1000 + n,
  sample_rate: 48000,
  channels: 2,
  codec: 'flac',
  art: null,
});
const state = (over: Partial<PlayerState>): PlayerState => ({
  state: 'playing',
  index: 0,
  current: track(0),
  queue_len: 3,
  queue_version: 1,
  position_ms: 0,
  volume: 100,
  shuffle: false,
  repeat: 'off',
  device: 'Virtual sink',
  chosen_device: null,
  ...over,
});
const queue = (version: number, n: number): QueueState => ({ tracks: Array.from({ length: n }, (_, i) => track(i)), index: 0, version });

const backend = vi.hoisted(() => ({
  getPlayer: vi.fn(),
  getQueue: vi.fn(),
}));
vi.mock('../backend', () => ({
  ...backend,
  onEngineEvent: vi.fn(async (handler: (event: Event) => void) => {
    emit = handler;
    return () => {};
  }),
  toBackendError: (error: unknown) => ({ message: String(error) }),
}));

const { QUEUE_GRACE_MS, followPlayer, playerView } = await import('./player.svelte');
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
/** Waits out the grace a state naming a newer queue gives its `queue_changed`. */
const graceOver = () => new Promise((resolve) => setTimeout(resolve, QUEUE_GRACE_MS + 50));

describe('the player view', () => {
  beforeEach(async () => {
    backend.getPlayer.mockResolvedValue(state({}));
    backend.getQueue.mockResolvedValue(queue(1, 3));
    await followPlayer();
    await settle();
  });

  it('fetches the queue at start, then takes it from queue_changed and never on a pause', async () => {
    expect(playerView.queue.tracks).toHaveLength(3);
    backend.getQueue.mockClear();

    // A call's answer may overtake its queue_changed: the event still wins the race.
    emit({ type: 'player_changed', ...state({ queue_len: 5, queue_version: 2 }) });
    emit({ type: 'queue_changed', ...queue(2, 5) });
    emit({ type: 'player_changed', ...state({ queue_len: 5, queue_version: 2 }) });
    emit({ type: 'player_changed', ...state({ state: 'paused', queue_len: 5, queue_version: 2 }) });
    emit({ type: 'player_changed', ...state({ index: 1, current: track(1), queue_len: 5, queue_version: 2 }) });
    await graceOver();
    expect(backend.getQueue).not.toHaveBeenCalled();
    expect(playerView.queue.tracks).toHaveLength(5);
    expect(playerView.player.current?.hash).toBe('h1');
    expect(playerView.durationMs).toBe(1001);
  });

  it('asks for the queue when a queue_changed was missed', async () => {
    backend.getQueue.mockClear();
    backend.getQueue.mockResolvedValue(queue(9, 2));
    emit({ type: 'player_changed', ...state({ queue_len: 2, queue_version: 9 }) });
    await graceOver();
    expect(backend.getQueue).toHaveBeenCalledTimes(1);
    expect(playerView.queue.version).toBe(9);
    // An older queue arriving late does not replace it.
    emit({ type: 'queue_changed', ...queue(8, 7) });
    expect(playerView.queue.tracks).toHaveLength(2);
  });
});
