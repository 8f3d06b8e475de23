/**
 * What both writers (SQLite's GroupCommitWriter, PostgreSQL's BatchRecorder) share about the
 * queue before a group commit. The bound: events queued in all, and per owner (a tenant), so that
 * one flooding tenant cannot fill the queue and make every other tenant's writes fail; past
 * either bound a write is refused as busy (503, Retry-After). The hold: commits wait while any
 * hold is taken (jobs keep queueing, within the bound).
 */
import { StorageBusyError } from "./errors";

export class QueueBound {
  private weight = 0;
  /** Queued weight per owner (only owners with something queued). */
  private readonly owners = new Map<string, number>();

  constructor(
    private readonly maxWeight: number,
    /** The most one owner may have queued. Default: the whole queue. */
    private readonly maxOwnerWeight = Number.POSITIVE_INFINITY,
  ) {}

  /** Events queued now. */
  get queued(): number {
    return this.weight;
  }

  /**
   * Takes `weight` into the queue, or answers why not. `queueEmpty`: nothing waits, so a write
   * larger than the bound is still let in alone. An owner with nothing queued is always let in
   * (within the bound): a request larger than the share is slowed to one at a time, never refused
   * for ever.
   */
  admit(weight: number, owner: string | undefined, queueEmpty: boolean): StorageBusyError | null {
    if (this.weight + weight > this.maxWeight && !queueEmpty) return new StorageBusyError("The write queue is full; retry shortly.", 1);
    const owned = owner === undefined ? 0 : (this.owners.get(owner) ?? 0);
    if (owned > 0 && owned + weight > this.maxOwnerWeight) return new StorageBusyError("This tenant's share of the write queue is full; retry shortly.", 1);
    this.add(weight, owner);
    return null;
  }

  /** Puts weight back without asking (a write run again). */
  add(weight: number, owner: string | undefined): void {
    this.weight += weight;
    if (owner !== undefined) this.owners.set(owner, (this.owners.get(owner) ?? 0) + weight);
  }

  /** Weight that left the queue (its commit started). */
  remove(weight: number, owner: string | undefined): void {
    this.weight -= weight;
    if (owner === undefined) return;
    const left = (this.owners.get(owner) ?? 0) - weight;
    if (left > 0) this.owners.set(owner, left);
    else this.owners.delete(owner);
  }

  /** Everything left the queue. */
  clear(): void {
    this.weight = 0;
    this.owners.clear();
  }
}

/** Holds on a writer's commits: while any is taken the writer commits nothing (closing aside). */
export class CommitHold {
  private holds = 0;

  /** `resume` runs when the last hold is released (the writer schedules its next commit). */
  constructor(private readonly resume: () => void) {}

  get held(): boolean {
    return this.holds > 0;
  }

  /** Takes a hold; the returned function releases it (a second call does nothing). */
  take(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      if (this.holds === 0) this.resume();
    };
  }
}
