// When ticks arrive, and what that says about the server's clock: the newest tick the
// link could have delivered by now, the jitter of arrivals (which sizes the playout
// buffer other players' heads are drawn through), and how many ticks ahead of that an
// input sent now is applied (how far the own head is predicted).

/** Arrival samples kept: 3 s of ticks at 60 Hz. */
const WINDOW = 180;
/** A sample this far from the fastest one means the room's clock jumped (it waited), ms. */
const JUMP_MS = 1000;
/** Lead samples (one per acknowledged input) whose median sets the lead. */
const LEAD_SAMPLES = 9;

export class NetClock {
  /** `arrival - tick · period`, ms, of recent ticks. */
  private samples: number[] = [];
  private base = Infinity;
  private leads: number[] = [];
  /** Round trip from heartbeat replies, ms (null until the first). */
  rttMs: number | null = null;

  constructor(public periodMs: number) {}

  /** Tick `tick` arrived at `now` (performance.now()). */
  arrived(tick: number, now: number): void {
    const s = now - tick * this.periodMs;
    if (Math.abs(s - this.base) > JUMP_MS) {
      // The room stopped ticking while it waited, or a resync skipped ahead: start over.
      this.samples = [];
      this.base = s;
    }
    this.samples.push(s);
    if (this.samples.length > WINDOW) this.samples.shift();
    this.base = Math.min(...this.samples);
  }

  /** Whether any tick has arrived. */
  get synced(): boolean {
    return this.samples.length > 0;
  }

  /** The tick the link would deliver at `now` with its shortest delay seen (fractional). */
  latestTick(now: number): number {
    return (now - this.base) / this.periodMs;
  }

  /** Ticks arrive up to this much later than the fastest one (95th percentile), ms. */
  jitterMs(): number {
    if (this.samples.length < 2) return 0;
    const d = this.samples.map((s) => s - this.base).sort((a, b) => a - b);
    return d[Math.floor((d.length - 1) * 0.95)];
  }

  /** How far behind `latestTick` other heads are drawn, ticks: the jitter and a margin. */
  bufferTicks(): number {
    return Math.min(30, (this.jitterMs() + 4) / this.periodMs);
  }

  /** An input sent when `latestTick` was `sentAt` was applied in tick `applied`. */
  leadSample(sentAt: number, applied: number): void {
    this.leads.push(applied - sentAt);
    if (this.leads.length > LEAD_SAMPLES) this.leads.shift();
  }

  /**
   * Ticks between the newest tick the client can have and the tick an input sent now
   * is applied in: the median of what acknowledged inputs showed, else a round trip.
   */
  leadTicks(): number {
    if (this.leads.length === 0) return (this.rttMs ?? 100) / this.periodMs + 1;
    const l = [...this.leads].sort((a, b) => a - b);
    return Math.max(0, l[Math.floor(l.length / 2)]);
  }
}
