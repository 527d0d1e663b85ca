import { HubPage } from './page.js';

// The approval page's entry point (dist/hub-page/hub-page.js), served by the
// hub at `/` under a CSP that allows this script and nothing inline.

const root = document.getElementById('app');
if (root) {
  new HubPage(root, {
    fetch: (input, init) => fetch(input, init),
    session: sessionStorage,
    local: localStorage,
    location,
    replaceUrl: (url) => history.replaceState(null, '', url),
  }).start();
}
