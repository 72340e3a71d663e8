// Drives the synthetic market in real time at a configured tick rate and publishes the ticks.
import type { Logger } from '../runtime/logger.ts';
import { SyntheticMarket, type SyntheticMarketOptions } from './synthetic-market.ts';
import type { EventPublisher } from './tick-publisher.ts';

export class SyntheticFeed {
  private timer: NodeJS.Timeout | null = null;
  private readonly market: SyntheticMarket;
  private inFlight: Promise<unknown> = Promise.resolve();
  private busy = false;
  private carry = 0;
  private last = 0;
  published = 0;
  /** Ticks not generated because the broker could not keep up (backpressure, not buffering). */
  skipped = 0;

  constructor(opts: SyntheticMarketOptions, private readonly ticksPerSecond: number, private readonly publisher: EventPublisher, private readonly log: Logger, private readonly periodMs = 100) {
    this.market = new SyntheticMarket(opts);
  }

  start(): void {
    this.last = Date.now();
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.log.info({ ticksPerSecond: this.ticksPerSecond }, 'synthetic market feed started');
  }

  private tick(): void {
    const now = Date.now();
    this.carry += ((now - this.last) / 1000) * this.ticksPerSecond;
    this.last = now;
    // One send in flight at a time; while it lasts, at most one second of ticks accumulates.
    if (this.busy) {
      const cap = Math.max(1, this.ticksPerSecond);
      if (this.carry > cap) { this.skipped += Math.floor(this.carry - cap); this.carry = cap; }
      return;
    }
    const n = Math.floor(this.carry);
    if (n === 0) return;
    this.carry -= n;
    const ticks = this.market.next(now, n, now);
    this.busy = true;
    this.inFlight = this.publisher.publish('ticks', ticks.map((t) => ({ key: `${t.exchange}:${t.symbol}`, value: t })))
      .then((r) => { this.published += r.sent; })
      .catch((err: Error) => this.log.error({ err: err.message }, 'publishing synthetic ticks failed'))
      .finally(() => { this.busy = false; });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.inFlight;
  }
}
