// The store's live order events, one orderEvents subscription for the whole
// signed-in dashboard: views listen to it (onEvent) instead of opening their
// own. Redelivered events (same eventId) are dropped here. After the socket
// came back from a drop, onResync listeners reload what they show, since
// events sent while it was down are not replayed.

export const ORDER_EVENTS = `subscription OrderEvents {
  orderEvents {
    eventId type occurredAt orderId orderNumber status financialStatus fulfillmentStatus
    total { amount currencyCode }
    amount { amount currencyCode }
    trackingNumber reason
  }
}`;

const SEEN_MAX = 2000;

export class OrderStream {
  constructor(client) {
    this.client = client;
    this.listeners = new Set();
    this.resyncListeners = new Set();
    this.errorListeners = new Set();
    this.seen = new Set();
    this.dispose = null;
    this.stopped = true;
    this.retryTimer = null;
    this.failures = 0;
    this.wasDown = false;
    this.lastError = null;
  }

  start() {
    this.stopped = false;
    this.offStatus = this.client.onStatus((s) => {
      if (s === 'reconnecting') this.wasDown = true;
      if (s === 'connected' && this.wasDown) {
        this.wasDown = false;
        for (const fn of this.resyncListeners) fn();
      }
    });
    this.subscribe();
  }

  subscribe() {
    if (this.stopped) return;
    this.dispose = this.client.subscribe(ORDER_EVENTS, {}, {
      next: (data) => {
        this.failures = 0;
        if (this.lastError) {
          this.lastError = null;
          for (const fn of this.errorListeners) fn(null);
        }
        const ev = data?.orderEvents;
        if (!ev || this.seen.has(ev.eventId)) return;
        this.seen.add(ev.eventId);
        if (this.seen.size > SEEN_MAX) this.seen.delete(this.seen.values().next().value);
        for (const fn of this.listeners) fn(ev);
      },
      error: (err) => this.retry(err),
      complete: () => this.retry(null),
    });
  }

  // The operation itself ended (refused, or completed by the server):
  // subscribe again with backoff while the dashboard is open.
  retry(err) {
    this.dispose?.();
    this.dispose = null;
    if (this.stopped) return;
    if (err) {
      this.lastError = err;
      for (const fn of this.errorListeners) fn(err);
    }
    this.failures++;
    const wait = Math.min(30000, 1000 * 2 ** Math.min(this.failures - 1, 5));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.wasDown = true;
      this.subscribe();
    }, wait);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.offStatus?.();
    this.dispose?.();
    this.dispose = null;
    this.listeners.clear();
    this.resyncListeners.clear();
    this.errorListeners.clear();
  }

  /** fn(event) for every new order event; returns an unsubscribe function. */
  onEvent(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** fn() when the live stream is back after a gap. */
  onResync(fn) {
    this.resyncListeners.add(fn);
    return () => this.resyncListeners.delete(fn);
  }

  /** fn(error | null) when the subscription is refused, and null when it works again. */
  onError(fn) {
    this.errorListeners.add(fn);
    if (this.lastError) fn(this.lastError);
    return () => this.errorListeners.delete(fn);
  }
}
