// How an album's tracks are labelled from their tags: disc headings when the album has more than
// one disc, track numbers ("3", or "2-3" beside a disc heading), and the album's byline (its album
// artist; "Various Artists" for a compilation without one, as the scanner files it).
import type { Track } from '../bindings/api';

/** Whether these tracks (one album's) span more than one disc, by their numbers or the totals. */
export function hasSeveralDiscs(tracks: readonly Track[]): boolean {
  const discs = new Set(tracks.map((t) => t.disc_no ?? 1));
  return discs.size > 1 || tracks.some((t) => (t.disc_total ?? 1) > 1);
}

/** The disc heading shown above row `i`, or null when the row continues the disc above it. */
export function discHeading(tracks: readonly Track[], i: number, severalDiscs: boolean): string | null {
  if (!severalDiscs) return null;
  const disc = tracks[i]?.disc_no ?? null;
  if (i > 0 && (tracks[i - 1]?.disc_no ?? null) === disc) return null;
  return disc === null ? 'Other tracks' : `Disc ${disc}`;
}

/** The number shown in an album's "#" column ("3"; empty when untagged). */
export function trackNumber(track: Track): string {
  return track.track_no === null ? '' : String(track.track_no);
}

/** Words for a screen reader naming a track's place in its album ("Disc 2, track 3"). */
export function placeInAlbum(track: Track, severalDiscs: boolean): string {
  const parts: string[] = [];
  if (severalDiscs && track.disc_no !== null) parts.push(`Disc ${track.disc_no}`);
  if (track.track_no !== null) {
    parts.push(`${parts.length > 0 ? 'track' : 'Track'} ${track.track_no}${track.track_total !== null ? ` of ${track.track_total}` : ''}`);
  }
  return parts.join(', ');
}

/** The album's byline: its album artist, "Various Artists" for an untagged compilation. */
export function albumByline(tracks: readonly Track[], albumArtist: string): string {
  if (albumArtist.trim() !== '') return albumArtist;
  return tracks.length > 0 && tracks.every((t) => t.compilation) ? 'Various Artists' : 'Unknown artist';
}
