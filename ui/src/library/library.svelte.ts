// The window's view of the library: folders, tracks, albums, artists, playlists, the scan under way
// and the last scan report, kept current from engine events. Only this module writes it.
// Lists are reloaded on `library_changed` only (a scan that changed something sends exactly one,
// just before `scan_finished`); reloads asked for while one runs are folded into one more.
import { listAlbums, listArtists, listFolders, listPlaylists, listTracks, onEngineEvent, scanReport, toBackendError } from '../backend';
import type { Album, AlbumKey, Artist, Playlist, ScanProblem, ScanSummary, Track } from '../bindings/api';

export interface ScanProgress {
  seen: number;
  done: number;
  failed: number;
  current: string;
}

interface LibraryState {
  folders: string[];
  tracks: Track[];
  albums: Album[];
  artists: Artist[];
  playlists: Playlist[];
  scan: ScanProgress | null;
  lastScan: ScanSummary | null;
  problems: ScanProblem[];
  loaded: boolean;
  error: string | null;
  /** An album another section asked the Library to open ("Go to album"); taken by Library.svelte. */
  pendingAlbum: AlbumKey | null;
}

export const library: LibraryState = $state({
  folders: [],
  tracks: [],
  albums: [],
  artists: [],
  playlists: [],
  scan: null,
  lastScan: null,
  problems: [],
  loaded: false,
  error: null,
  pendingAlbum: null,
});

/** Asks the Library to open an album's tracks the next time it is shown. */
export function showAlbum(key: AlbumKey): void {
  library.pendingAlbum = key;
}

let following = false;
/** The reload under way, and whether another was asked for meanwhile. */
let reloading: Promise<void> | null = null;
let reloadAgain = false;

/** Reloads every list; calls made while a reload runs share one more reload after it. */
export function refreshLibrary(): Promise<void> {
  if (reloading) {
    reloadAgain = true;
    return reloading;
  }
  reloading = (async () => {
    do {
      reloadAgain = false;
      await loadEverything();
    } while (reloadAgain);
  })().finally(() => {
    reloading = null;
  });
  return reloading;
}

async function loadEverything(): Promise<void> {
  try {
    const [folders, tracks, albums, artists, playlists, problems] = await Promise.all([
      listFolders(),
      listTracks(),
      listAlbums(),
      listArtists(),
      listPlaylists(),
      scanReport(),
    ]);
    Object.assign(library, { folders, tracks, albums, artists, playlists, problems, error: null });
  } catch (error) {
    library.error = toBackendError(error).message;
  } finally {
    library.loaded = true;
  }
}

/** The share of the scan done, 0–100. */
export function scanPercent(scan: ScanProgress): number {
  return scan.seen === 0 ? 100 : Math.min(100, Math.round((scan.done / scan.seen) * 100));
}

export async function followLibrary(): Promise<void> {
  if (following) return;
  following = true;
  await onEngineEvent((event) => {
    switch (event.type) {
      case 'scan_progress':
        library.scan = { seen: event.seen, done: event.done, failed: event.failed, current: event.current };
        break;
      case 'scan_finished': {
        // What the scan changed came with `library_changed` just before; nothing to reload.
        const { type: _type, ...summary } = event;
        library.scan = null;
        library.lastScan = summary;
        break;
      }
      case 'library_changed':
        void refreshLibrary();
        break;
    }
  });
  await refreshLibrary();
}
