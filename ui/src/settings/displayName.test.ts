import { describe, expect, it } from 'vitest';
import { displayNameProblem, MAX_NAME_CHARS } from './displayName';

describe('displayNameProblem', () => {
  it('accepts a name once it is trimmed', () => {
    expect(displayNameProblem('  Ada  ')).toBeNull();
  });

  it('refuses an empty or blank name', () => {
    expect(displayNameProblem('')).toMatch(/empty/);
    expect(displayNameProblem('   ')).toMatch(/empty/);
  });

  it('counts characters the way the engine does, not UTF-16 units', () => {
    expect(displayNameProblem('🎧'.repeat(MAX_NAME_CHARS))).toBeNull();
    expect(displayNameProblem('a'.repeat(MAX_NAME_CHARS + 1))).toMatch(/65 characters/);
  });

  it('refuses control characters', () => {
    expect(displayNameProblem('Ada\nLovelace')).toMatch(/control/);
  });
});
