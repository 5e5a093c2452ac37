// What the whole window knows about this peer: its status and profile, loaded once and kept
// current from engine events. Components read `session`; only this module writes it.
import { getProfile, getStatus, onEngineEvent, toBackendError } from '../backend';
import type { Profile, Status } from '../bindings/api';

interface Session {
  status: Status | null;
  profile: Profile | null;
  /** Why loading failed, for the whole-window error screen. */
  error: string | null;
}

export const session: Session = $state({ status: null, profile: null, error: null });

let started = false;

/** Loads status and profile and follows engine events; safe to call more than once. */
export async function startSession(): Promise<void> {
  if (started) return;
  started = true;
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'profile_changed':
        session.profile = { display_name: event.display_name };
        break;
      case 'listen_addresses_changed':
        if (session.status) session.status.listen_addrs = event.listen_addrs;
        break;
    }
  });
  try {
    const [status, profile] = await Promise.all([getStatus(), getProfile()]);
    session.status = status;
    session.profile = profile;
    session.error = null;
  } catch (error) {
    session.error = toBackendError(error).message;
    started = false;
  }
}
