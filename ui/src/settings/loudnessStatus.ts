// What Settings → Loudness says about the background analysis, and whether it keeps asking.
import type { NormalisationState } from '../bindings/api';

export interface LoudnessStatus {
  /** The sentence shown under the settings. */
  text: string;
  /** Whether to ask again in a moment: only while the analysis is measuring. */
  poll: boolean;
}

type Counts = Pick<NormalisationState, 'tracks' | 'known' | 'unmeasurable' | 'measuring'>;

/**
 * "Measuring…" only while the engine says it measures: tracks can wait with nothing measuring
 * (files missing since the scan, files to be tried again, an analysis that stopped), and saying
 * "Measuring" then, and asking every two seconds, would go on for ever.
 */
export function loudnessStatus(state: Counts, numbers: Intl.NumberFormat = new Intl.NumberFormat()): LoudnessStatus {
  const n = (x: number) => numbers.format(x);
  const pending = Math.max(0, state.tracks - state.known - state.unmeasurable);
  const failed =
    state.unmeasurable > 0
      ? ` ${n(state.unmeasurable)} ${state.unmeasurable === 1 ? 'track' : 'tracks'} could not be measured (damaged or silent files) and play unchanged.`
      : '';
  if (state.tracks === 0) {
    return { text: 'Add music to your library; its loudness is measured in the background.', poll: state.measuring };
  }
  if (state.measuring) {
    return {
      text: `Measuring loudness: ${n(state.known + state.unmeasurable)} of ${n(state.tracks)} tracks. Tracks not measured yet play unchanged.${failed}`,
      poll: true,
    };
  }
  if (pending > 0) {
    return {
      text: `Loudness known for ${n(state.known)} of ${n(state.tracks)} tracks; ${n(pending)} waiting (files missing, or to be tried again) are measured after the next scan and play unchanged until then.${failed}`,
      poll: false,
    };
  }
  return { text: `Loudness known for all ${n(state.known)} tracks.${failed}`, poll: false };
}
