// What the whole window knows about this peer: its status and profile, loaded once and kept
// current from engine events. Components read `session`; only this module writes it.
import { getProfile, getStatus, onEngineEvent, toBackendError } from '../backend';
import type { Profile, Status } from '../bindings/api';

/** A part of the engine that failed unexpectedly (an `engine_fault` event), until dismissed. */
export interface Fault {
  id: number;
  component: string;
  message: string;
  /** The part stopped: Earshot must be restarted to use it again. */
  fatal: boolean;
}

interface Session {
  status: Status | null;
  profile: Profile | null;
  /** Why loading failed, for the whole-window error screen. */
  error: string | null;
  /** Engine faults not yet dismissed, oldest first. */
  faults: Fault[];
}

export const session: Session = $state({ status: null, profile: null, error: null, faults: [] });

/** At most this many faults are kept on screen; a fault loop must not grow the window forever. */
const MAX_FAULTS = 5;
let nextFaultId = 1;

/** Records an engine fault for the banner (the same one repeated is shown once). */
export function addFault(component: string, message: string, fatal = false): void {
  if (session.faults.some((f) => f.component === component && f.message === message)) return;
  session.faults.push({ id: nextFaultId++, component, message, fatal });
  if (session.faults.length > MAX_FAULTS) session.faults.shift();
}

/**
 * This peer's short fingerprint, as the engine reports it in `status` (the field is newer than some
 * engines: null until it is there). Shown with invites, so a friend can compare it with the one
 * their confirmation shows.
 */
export function ownFingerprint(): string | null {
  const status = session.status;
  return status && 'fingerprint' in status && typeof status.fingerprint === 'string' ? status.fingerprint : null;
}

export function dismissFault(id: number): void {
  session.faults = session.faults.filter((f) => f.id !== id);
}

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
      case 'engine_fault':
        addFault(event.component, event.message, event.fatal);
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
