// Cover art by hash, fetched once per (hash, size) and shared by every list that shows it.
import { getArt } from '../backend';

const cache = new Map<string, Promise<string | null>>();

export function artUrl(hash: string, thumb = true): Promise<string | null> {
  const key = `${hash}:${thumb}`;
  let url = cache.get(key);
  if (!url) {
    url = getArt(hash, thumb).catch(() => null);
    cache.set(key, url);
  }
  return url;
}
