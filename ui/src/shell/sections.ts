// The app's sections, in navigation order, with what each will hold. Sections whose feature has
// not landed yet show their `coming` list so a newcomer knows what to expect.

export type SectionId = 'friends' | 'messages' | 'library' | 'jam' | 'settings';

export interface Section {
  id: SectionId;
  label: string;
  /** One line under the section title. */
  tagline: string;
  /** What is on its way, for sections not built yet; empty when the section is live. */
  coming: string[];
}

export const SECTIONS: Section[] = [
  {
    id: 'friends',
    label: 'Friends',
    tagline: 'Pair with the people you listen with. No accounts, no server: just you and them.',
    coming: [],
  },
  {
    id: 'messages',
    label: 'Messages',
    tagline: 'Talk with friends one to one or in groups, even when they are offline.',
    coming: [],
  },
  {
    id: 'library',
    label: 'Library',
    tagline: 'Your music, scanned from your folders and played without gaps.',
    coming: [],
  },
  {
    id: 'jam',
    label: 'Jam',
    tagline: 'Listen together, in sync, from wherever you are.',
    coming: [],
  },
  {
    id: 'settings',
    label: 'Settings',
    tagline: 'Your profile and how Earshot runs on this computer.',
    coming: [],
  },
];

export function sectionById(id: SectionId): Section {
  const section = SECTIONS.find((s) => s.id === id);
  if (!section) throw new Error(`unknown section ${id}`);
  return section;
}

/** The section `step` places away from `id` in navigation order, wrapping around. */
export function neighbour(id: SectionId, step: number): SectionId {
  const index = SECTIONS.findIndex((s) => s.id === id);
  const next = (index + step + SECTIONS.length) % SECTIONS.length;
  return SECTIONS[next]!.id;
}
