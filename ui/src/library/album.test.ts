import { describe, expect, it } from 'vitest';
import type { Track } from '../bindings/api';
import { albumByline, discHeading, hasSeveralDiscs, placeInAlbum, trackNumber } from './album';

function track(disc_no: number | null, track_no: number | null, more: Partial<Track> = {}): Track {
  return {
    hash: `${disc_no}-${track_no}`,
    path: `/music/${disc_no}-${track_no}.flac`,
    title: `Song ${track_no}`,
    artists: ['A'],
    artist: 'A',
    album: 'X',
    album_artist: 'A',
    track_no,
    track_total: null,
    disc_no,
    disc_total: null,
    compilation: false,
    year: null,
    genre: '',
    duration_ms: 1000,
    sample_rate: 48000,
    channels: 2,
    codec: 'FLAC',
    art: null,
    ...more,
  };
}

describe("an album's track list", () => {
  it('has disc headings only when the album spans more than one disc', () => {
    const single = [track(1, 1), track(1, 2)];
    expect(hasSeveralDiscs(single)).toBe(false);
    expect(discHeading(single, 0, hasSeveralDiscs(single))).toBeNull();

    const double = [track(1, 1), track(1, 2), track(2, 1)];
    const several = hasSeveralDiscs(double);
    expect(several).toBe(true);
    expect([0, 1, 2].map((i) => discHeading(double, i, several))).toEqual(['Disc 1', null, 'Disc 2']);
  });

  it('counts a disc total of more than one as several discs (disc 1 of 2, the rest not here)', () => {
    expect(hasSeveralDiscs([track(1, 1, { disc_total: 2 })])).toBe(true);
  });

  it('numbers tracks and names their place for a screen reader', () => {
    expect(trackNumber(track(1, 3))).toBe('3');
    expect(trackNumber(track(null, null))).toBe('');
    expect(placeInAlbum(track(2, 3, { track_total: 12 }), true)).toBe('Disc 2, track 3 of 12');
    expect(placeInAlbum(track(1, 3), false)).toBe('Track 3');
    expect(placeInAlbum(track(null, null), true)).toBe('');
  });

  it('is bylined by the album artist, and an untagged compilation by "Various Artists"', () => {
    expect(albumByline([track(1, 1)], 'The Earshots')).toBe('The Earshots');
    expect(albumByline([track(1, 1, { compilation: true })], '')).toBe('Various Artists');
    expect(albumByline([track(1, 1)], '')).toBe('Unknown artist');
  });
});
