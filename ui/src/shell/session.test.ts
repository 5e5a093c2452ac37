import { describe, expect, it, vi } from 'vitest';

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }));

const { addFault, dismissFault, session } = await import('./session.svelte');

describe('engine faults', () => {
  it('are kept until dismissed, each once, and at most five', () => {
    addFault('friends', 'the service stopped');
    addFault('friends', 'the service stopped');
    expect(session.faults.map((f) => `${f.component}: ${f.message}`)).toEqual(['friends: the service stopped']);
    for (let i = 0; i < 6; i++) addFault('net', `fault ${i}`);
    expect(session.faults).toHaveLength(5);
    expect(session.faults.at(-1)?.message).toBe('fault 5');
    for (const fault of [...session.faults]) dismissFault(fault.id);
    expect(session.faults).toEqual([]);
  });
});
