// Mounts the app into index.html's #app.
import { mount } from 'svelte';
import App from './App.svelte';
import { reportFirstView } from './backend';
import './app.css';

// When this module starts running: the page has loaded and parsed the bundle.
const scriptMs = performance.now();
const target = document.getElementById('app');
if (!target) throw new Error('index.html must contain #app');

const app = mount(App, { target });
const mountedMs = performance.now();
// Two frames after mount the main view is on screen: the shell logs it (bench app times it).
requestAnimationFrame(() =>
  requestAnimationFrame(() => void reportFirstView(performance.now(), scriptMs, mountedMs)),
);

export default app;
