import { describe, expect, it } from 'vitest';
import { PAGE_ROWS, rowAfterKey } from './grid';

describe('moving between track rows with the keyboard', () => {
  it('steps one row with the arrows and stops at either end', () => {
    expect(rowAfterKey('ArrowDown', 0, 3)).toBe(1);
    expect(rowAfterKey('ArrowDown', 2, 3)).toBe(2);
    expect(rowAfterKey('ArrowUp', 1, 3)).toBe(0);
    expect(rowAfterKey('ArrowUp', 0, 3)).toBe(0);
  });

  it('jumps to the first and last rows with Home and End', () => {
    expect(rowAfterKey('Home', 5, 9)).toBe(0);
    expect(rowAfterKey('End', 0, 9)).toBe(8);
  });

  it('moves a page with Page Up and Page Down, clamped to the list', () => {
    expect(rowAfterKey('PageDown', 0, 100)).toBe(PAGE_ROWS);
    expect(rowAfterKey('PageDown', 95, 100)).toBe(99);
    expect(rowAfterKey('PageUp', 3, 100)).toBe(0);
  });

  it('ignores other keys and empty lists', () => {
    expect(rowAfterKey('a', 0, 3)).toBeNull();
    expect(rowAfterKey('Enter', 0, 3)).toBeNull();
    expect(rowAfterKey('ArrowDown', 0, 0)).toBeNull();
  });
});
