// Display-name rules, mirrored from the engine (src-tauri/engine/src/profile.rs) so the field can
// explain a problem while the user types; the engine still has the final word.

export const MAX_NAME_CHARS = 64;

/** Why `name` is not acceptable, or null when it is. Counts characters, not UTF-16 units. */
export function displayNameProblem(name: string): string | null {
  const trimmed = name.trim();
  const chars = [...trimmed].length;
  if (chars === 0) return 'Your name cannot be empty.';
  if (chars > MAX_NAME_CHARS) return `That is ${chars} characters; the limit is ${MAX_NAME_CHARS}.`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(trimmed)) return 'Your name cannot contain line breaks or other control characters.';
  return null;
}
