// SPDX-License-Identifier: Apache-2.0
// The test cluster's informers (node agent, service proxy, DNS) start their watch again a second after an
// error, until they are stopped. Without the stop check, an error that arrives after stop() (the API server
// going away at the end of a test) started a list that failed, erred and was retried every second for
// ever: a live timer that kept the test's process from exiting.

interface Restartable {
  on(event: 'error', cb: () => void): unknown;
  start(): Promise<unknown>;
}

export function restartOnError(informer: Restartable, stopped: () => boolean, delayMs = 1000): void {
  informer.on('error', () => {
    if (stopped()) return;
    const t = setTimeout(() => {
      if (!stopped()) void informer.start().catch(() => {});
    }, delayMs);
    t.unref();
  });
}
