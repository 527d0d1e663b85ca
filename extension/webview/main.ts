import { ApprovalsApp } from './app.js';

// The webview's entry point: VS Code's webview API in, the app out.

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();
const root = document.getElementById('app');
if (root) {
  const app = new ApprovalsApp(root, api);
  window.addEventListener('message', (event: MessageEvent) => app.receive(event.data));
}
