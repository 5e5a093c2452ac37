import { describe, expect, it, vi } from 'vitest';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }));

const { BackendError, expectResponse, toBackendError } = await import('./backend');

describe('toBackendError', () => {
  it('keeps the kind and message of an engine error', () => {
    const error = toBackendError({ kind: 'invalid_input', message: 'too long' });
    expect(error).toBeInstanceOf(BackendError);
    expect(error.kind).toBe('invalid_input');
    expect(error.message).toBe('too long');
  });

  it('explains an error that did not come from the engine', () => {
    const error = toBackendError('command call not found');
    expect(error.kind).toBe('unreachable');
    expect(error.message).toMatch(/did not answer.*command call not found.*Restart/);
  });
});

describe('expectResponse', () => {
  it('returns a response of the expected type', () => {
    const profile = expectResponse({ type: 'profile', display_name: 'Ada' }, 'profile');
    expect(profile.display_name).toBe('Ada');
  });

  it('throws on a response of another type', () => {
    expect(() => expectResponse({ type: 'profile', display_name: 'Ada' }, 'status')).toThrow(/Expected a "status"/);
  });
});
