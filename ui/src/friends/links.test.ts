import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { LinkPreview } from '../bindings/api';

const backend = vi.hoisted(() => ({
  inspectLink: vi.fn(),
  redeemInvite: vi.fn(),
  takePendingLinks: vi.fn(),
  onLinksPending: vi.fn(),
}));
vi.mock('../backend', async (importOriginal) => ({ ...(await importOriginal<typeof import('../backend')>()), ...backend }));
vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }));

const { closeLink, confirmLink, followLinks, linkState, openLink } = await import('./links.svelte');

const preview: LinkPreview = {
  kind: 'invite',
  inviter: '12D3KooWRobin',
  fingerprint: 'ab12 cd34',
  expires_at: Date.now() + 3_600_000,
  standing: 'stranger',
  display_name: null,
};

const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('a link asks before it acts', () => {
  beforeEach(() => {
    while (linkState.current) closeLink();
    vi.clearAllMocks();
    backend.inspectLink.mockResolvedValue(preview);
    backend.redeemInvite.mockResolvedValue({ display_name: 'Robin' });
  });

  it('reads the link and waits for the user, redeeming nothing', async () => {
    openLink(' earshot://invite/a ');
    await settled();
    expect(backend.inspectLink).toHaveBeenCalledWith('earshot://invite/a');
    expect(linkState.current?.step).toEqual({ step: 'ask', preview });
    expect(backend.redeemInvite).not.toHaveBeenCalled();
  });

  it('redeems only when the user confirms', async () => {
    openLink('earshot://invite/a');
    await settled();
    expect(await confirmLink()).toBe('Robin');
    expect(backend.redeemInvite).toHaveBeenCalledWith('earshot://invite/a');
    expect(linkState.current?.step).toMatchObject({ step: 'added', name: 'Robin' });
  });

  it('cancelling redeems nothing and shows the next link waiting', async () => {
    openLink('earshot://invite/a');
    openLink('earshot://invite/b');
    openLink('earshot://invite/a');
    await settled();
    expect(linkState.queue).toEqual(['earshot://invite/b']);
    closeLink();
    await settled();
    expect(linkState.current?.link).toBe('earshot://invite/b');
    expect(backend.redeemInvite).not.toHaveBeenCalled();
  });

  it('explains a link that cannot be read', async () => {
    backend.inspectLink.mockRejectedValue({ kind: 'invalid_input', message: 'This invite link is damaged.' });
    openLink('earshot://invite/broken');
    await settled();
    expect(linkState.current?.step).toEqual({ step: 'failed', preview: null, message: 'This invite link is damaged.' });
  });

  it('can try again when the inviter could not be reached', async () => {
    backend.redeemInvite.mockRejectedValueOnce({ kind: 'unreachable', message: 'Robin could not be reached.' });
    openLink('earshot://invite/a');
    await settled();
    expect(await confirmLink()).toBeNull();
    expect(linkState.current?.step).toMatchObject({ step: 'failed', preview, message: 'Robin could not be reached.' });
    expect(await confirmLink()).toBe('Robin');
    expect(backend.redeemInvite).toHaveBeenCalledTimes(2);
  });

  it('takes the links that arrived before the window loaded', async () => {
    backend.onLinksPending.mockResolvedValue(() => {});
    backend.takePendingLinks.mockResolvedValue(['earshot://invite/early']);
    await followLinks();
    await settled();
    expect(linkState.current?.link).toBe('earshot://invite/early');
    expect(linkState.current?.step.step).toBe('ask');
  });
});
