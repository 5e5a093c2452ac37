// Vite builds the window's UI into ui/dist, which Tauri embeds (tauri.conf.json: frontendDist).
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  plugins: [svelte()],
  // Tauri serves the app from its own origin: relative asset paths keep it portable.
  base: './',
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  // No source map: it would be embedded in the app binary (1.3 MB) for no user.
  build: { target: 'es2022', sourcemap: false },
  test: { include: ['src/**/*.test.ts'], environment: 'node' },
});
