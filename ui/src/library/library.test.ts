import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { Event } from '../bindings/api';

// The engine, as the library view sees it: list calls that count themselves, and events we emit.
let emit: (event: Event) => void = () => {};
const backend = vi.hoisted(() => ({
  listFolders: vi.fn(async () => ['/music']),
  listTracks: vi.fn(async () => []),
  listAlbums: vi.fn(async () => []),
  listArtists: vi.fn(async () => []),
  listPlaylists: vi.fn(async () => []),
  scanReport: vi.fn(async () => []),
}));
vi.mock('../backend', () => ({
  ...backend,
  onEngineEvent: vi.fn(async (handler: (event: Event) => void) => {
    emit = handler;
    return () => {};
  }),
  toBackendError: (error: unknown) => ({ message: String(error) }),
}));

const { followLibrary, library } = await import('./library.svelte');

/** Lets pending promises (reloads in flight) settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('the library view', () => {
  beforeEach(async () => {
    await followLibrary();
    await settle();
    backend.listTracks.mockClear();
  });

  it('reloads the tracks once per scan, not on its progress or its summary', async () => {
    for (let done = 0; done <= 20_000; done += 500) {
      emit({ type: 'scan_progress', seen: 20_000, done, failed: 0, current: `/music/${done}.flac` });
    }
    expect(library.scan?.done).toBe(20_000);
    emit({ type: 'library_changed' });
    emit({ type: 'scan_finished', seen: 20_000, added: 20_000, updated: 0, unchanged: 0, removed: 0, failed: 0, elapsed_ms: 1 });
    await settle();
    expect(backend.listTracks).toHaveBeenCalledTimes(1);
    expect(library.scan).toBeNull();
    expect(library.lastScan?.added).toBe(20_000);
  });

  it('folds changes that arrive during a reload into one more reload', async () => {
    for (let i = 0; i < 10; i++) emit({ type: 'library_changed' });
    await settle();
    await settle();
    expect(backend.listTracks).toHaveBeenCalledTimes(2);
  });
});
