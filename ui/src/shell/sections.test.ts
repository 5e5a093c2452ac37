import { describe, expect, it } from 'vitest';
import { neighbour, SECTIONS, sectionById } from './sections';

describe('sections', () => {
  it('lists Friends, Messages, Library, Jam and Settings in that order', () => {
    expect(SECTIONS.map((s) => s.label)).toEqual(['Friends', 'Messages', 'Library', 'Jam', 'Settings']);
  });

  it('moves between neighbours and wraps at both ends', () => {
    expect(neighbour('friends', 1)).toBe('messages');
    expect(neighbour('settings', 1)).toBe('friends');
    expect(neighbour('friends', -1)).toBe('settings');
  });

  it('finds a section by id', () => {
    expect(sectionById('jam').label).toBe('Jam');
  });
});
