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

// While the window is hidden or in the background, decorative animations stand still (a class on
// body that styles can key on): nobody sees them, and without a GPU WebKit paints every frame.
function markIdle() {
  document.body.classList.toggle('idle', document.hidden || !document.hasFocus());
}
for (const [on, event] of [
  [document, 'visibilitychange'],
  [window, 'focus'],
  [window, 'blur'],
] as const) {
  on.addEventListener(event, markIdle);
}
markIdle();

export default app;
