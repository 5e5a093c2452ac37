// The window's view of the player: the state from `player_changed` (small: the current track, not
// the queue), the queue from `queue_changed` (sent only when its entries change), the position
// from `player_position` (about ten times a second) and the latest message. Only this module
// writes it.
import { getPlayer, getQueue, onEngineEvent, toBackendError } from '../backend';
import type { PlayerState, QueueState } from '../bindings/api';

interface PlayerView {
  player: PlayerState;
  /** The queue as last sent or fetched; `version` −1 until the first one arrives. */
  queue: QueueState;
  positionMs: number;
  durationMs: number;
  /** Something to tell the listener (a file skipped, a device lost), until dismissed. */
  message: string | null;
}

export const playerView: PlayerView = $state({
  player: { state: 'stopped', index: null, current: null, queue_len: 0, queue_version: 0, position_ms: 0, volume: 100, shuffle: false, repeat: 'off', device: null, chosen_device: null },
  queue: { tracks: [], index: null, version: -1 },
  positionMs: 0,
  durationMs: 0,
  message: null,
});

/**
 * How long a state that names a newer queue waits for its `queue_changed` before asking for the
 * queue: the engine sends the event before answering the call, but the two reach the window by
 * different paths, and asking at once could fetch a whole library's queue twice.
 */
export const QUEUE_GRACE_MS = 200;

let following = false;
let fetchingQueue = false;
let catchUpTimer: ReturnType<typeof setTimeout> | null = null;

function apply(state: PlayerState) {
  playerView.player = state;
  playerView.positionMs = state.position_ms;
  playerView.durationMs = state.current?.duration_ms ?? 0;
  if (state.queue_version > playerView.queue.version && catchUpTimer === null) {
    catchUpTimer = setTimeout(() => {
      catchUpTimer = null;
      void catchUpQueue();
    }, QUEUE_GRACE_MS);
  }
}

function applyQueue(queue: QueueState) {
  // An answer to `get_queue` may arrive after a newer `queue_changed`.
  if (queue.version > playerView.queue.version) playerView.queue = queue;
}

/**
 * Fetches the queue when the player's state names a newer one than we hold: at start, and if a
 * `queue_changed` was missed. Normally the event has arrived by then and this does nothing.
 */
async function catchUpQueue(): Promise<void> {
  if (fetchingQueue) return;
  fetchingQueue = true;
  try {
    while (playerView.player.queue_version > playerView.queue.version) {
      const before = playerView.queue.version;
      applyQueue(await getQueue());
      if (playerView.queue.version === before) break;
    }
  } catch (error) {
    playerView.message = toBackendError(error).message;
  } finally {
    fetchingQueue = false;
  }
}

/** Runs a player call, applying its answer or showing its error. */
export async function act(call: () => Promise<PlayerState>): Promise<void> {
  try {
    apply(await call());
  } catch (error) {
    playerView.message = toBackendError(error).message;
  }
}

export async function followPlayer(): Promise<void> {
  if (following) return;
  following = true;
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'player_changed': {
        const { type: _type, ...state } = event;
        apply(state);
        break;
      }
      case 'queue_changed': {
        const { type: _type, ...queue } = event;
        applyQueue(queue);
        break;
      }
      case 'player_position':
        playerView.positionMs = event.position_ms;
        playerView.durationMs = event.duration_ms;
        break;
      case 'player_message':
        playerView.message = event.message;
        break;
    }
  });
  await act(getPlayer);
  await catchUpQueue();
}
