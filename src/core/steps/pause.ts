// A wait that ends early, without an error, when the action is cancelled: the caller looks at the
// signal next. (start.ts's sleep rejects instead, on purpose: its callers stop there.)
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => (clearTimeout(timer), signal.removeEventListener('abort', done), resolve());
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
