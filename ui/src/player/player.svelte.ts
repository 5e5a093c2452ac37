// The window's view of the player: the state from `player_changed`, the position from
// `player_position` (about ten times a second) and the latest message. Only this module writes it.
import { getPlayer, onEngineEvent, toBackendError } from '../backend';
import type { PlayerState } from '../bindings/api';

interface PlayerView {
  player: PlayerState;
  positionMs: number;
  durationMs: number;
  /** Something to tell the listener (a file skipped, a device lost), until dismissed. */
  message: string | null;
}

export const playerView: PlayerView = $state({
  player: { state: 'stopped', queue: [], index: null, position_ms: 0, volume: 100, shuffle: false, repeat: 'off', device: null, chosen_device: null },
  positionMs: 0,
  durationMs: 0,
  message: null,
});

let following = false;

function apply(state: PlayerState) {
  playerView.player = state;
  playerView.positionMs = state.position_ms;
  const current = state.index === null ? undefined : state.queue[state.index];
  playerView.durationMs = current?.duration_ms ?? 0;
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
}
