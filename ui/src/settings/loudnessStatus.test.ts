import { describe, expect, it } from 'vitest';
import { loudnessStatus } from './loudnessStatus';

const numbers = new Intl.NumberFormat('en');

describe('loudnessStatus', () => {
  it('says measuring and keeps asking only while the analysis measures', () => {
    const s = loudnessStatus({ tracks: 5000, known: 100, unmeasurable: 20, measuring: true }, numbers);
    expect(s.text).toMatch(/^Measuring loudness: 120 of 5,000 tracks/);
    expect(s.text).toMatch(/20 tracks could not be measured/);
    expect(s.poll).toBe(true);
  });

  it('does not say measuring, nor ask for ever, when tracks wait and nothing measures', () => {
    const s = loudnessStatus({ tracks: 10, known: 7, unmeasurable: 1, measuring: false }, numbers);
    expect(s.text).not.toMatch(/Measuring/);
    expect(s.text).toMatch(/2 waiting/);
    expect(s.text).toMatch(/1 track could not be measured/);
    expect(s.poll).toBe(false);
  });

  it('counts the unmeasurable when everything is done', () => {
    expect(loudnessStatus({ tracks: 3, known: 3, unmeasurable: 0, measuring: false }, numbers)).toEqual({
      text: 'Loudness known for all 3 tracks.',
      poll: false,
    });
    const s = loudnessStatus({ tracks: 3, known: 1, unmeasurable: 2, measuring: false }, numbers);
    expect(s.text).toMatch(/2 tracks could not be measured/);
    expect(s.poll).toBe(false);
  });
});
