/**
 * The change feed on PostgreSQL: NOTIFY on publish, LISTEN on one dedicated connection.
 *
 * The listening connection is a client of its own (one connection, application_name
 * `inlet-changes` by default, so it is easy to tell apart in pg_stat_activity) and takes no
 * connection from the pool. When it drops, PostgreSQL keeps nothing for it: notifications sent
 * meanwhile are lost. So the feed reconnects with a capped, jittered backoff and, once LISTEN is
 * acknowledged again, tells its listeners `reset`. The reset comes after the LISTEN, so whatever
 * a listener reloads then is at least as new as the first change it will hear.
 *
 * Bun's client would reconnect a dropped LISTEN by itself, but with a backoff that grows to
 * minutes and without telling: the feed closes that client instead and opens a new one.
 *
 * A connection can also die without closing (a half-open TCP connection after a network fault or
 * a failover): the feed sends itself a heartbeat on a channel of its own, through the pool, and
 * treats the connection as lost when the heartbeat is not heard back in time.
 */
import { SQL } from "bun";
import { logger } from "../../logger";
import {
  CHANGE_CHANNEL,
  decodeChange,
  encodeChange,
  FeedListeners,
  type Change,
  type ChangeFeed,
  type ChangeListener,
  type NotifyHandle,
} from "../change-feed";

export interface PostgresChangeFeedOptions {
  /** The database URL (the listening connection is opened from it). */
  url: string;
  /** Where changes are published when no transaction is given: the store's pool. */
  publisher: NotifyHandle;
  /** Shown in pg_stat_activity for the listening connection. */
  applicationName?: string;
  channel?: string;
  /** Delay before the first reconnection attempt, doubled after each failure up to `maxMs`. */
  backoff?: { initialMs: number; maxMs: number };
  /** How often the feed checks its connection, and how long after sending it waits to hear the check. */
  heartbeat?: { intervalMs: number; timeoutMs: number };
}

/**
 * Tells every listening instance of a change, without listening: for the command line, which
 * changes and exits. Given a transaction, the change is delivered when it commits.
 */
export function notifyChange(via: NotifyHandle, change: Change, channel = CHANGE_CHANNEL): Promise<void> {
  return via.notify(channel, encodeChange(change));
}

export class PostgresChangeFeed implements ChangeFeed {
  private readonly listeners = new FeedListeners();
  private readonly channel: string;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly heartbeat: { intervalMs: number; timeoutMs: number };
  /** This feed's own channel for its heartbeat, so no other instance hears it. */
  private readonly pingChannel: string;
  private pingsSent = 0;
  private pingsHeard = 0;
  private pinging: ReturnType<typeof setInterval> | null = null;
  private pingWait: ReturnType<typeof setTimeout> | null = null;
  private client: SQL | null = null;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private delay: number;
  private closed = false;
  /** Times the listening connection was re-established since start (for metrics and tests). */
  reconnects = 0;

  private constructor(private readonly options: PostgresChangeFeedOptions) {
    this.channel = options.channel ?? CHANGE_CHANNEL;
    this.backoff = options.backoff ?? { initialMs: 250, maxMs: 5000 };
    this.delay = this.backoff.initialMs;
    this.heartbeat = options.heartbeat ?? { intervalMs: 5000, timeoutMs: 3000 };
    this.pingChannel = `${this.channel}_ping_${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex")}`;
  }

  /** Opens the listening connection; resolves once LISTEN is acknowledged (fails when it cannot be). */
  static async start(options: PostgresChangeFeedOptions): Promise<PostgresChangeFeed> {
    const feed = new PostgresChangeFeed(options);
    await feed.listen();
    feed.pinging = setInterval(() => void feed.ping(), feed.heartbeat.intervalMs);
    feed.pinging.unref();
    return feed;
  }

  /** Whether the listening connection is up (false while reconnecting). */
  get listening(): boolean {
    return this.client !== null;
  }

  async publish(change: Change, via?: NotifyHandle): Promise<void> {
    await notifyChange(via ?? this.options.publisher, change, this.channel);
  }

  subscribe(listener: ChangeListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of [this.retry, this.pingWait]) if (timer) clearTimeout(timer);
    if (this.pinging) clearInterval(this.pinging);
    this.retry = this.pingWait = this.pinging = null;
    const client = this.client;
    this.client = null;
    this.listeners.clear();
    await client?.close({ timeout: 1 });
  }

  private async listen(): Promise<void> {
    const client: SQL = new SQL({
      url: this.options.url,
      max: 1,
      connectionTimeout: 10,
      connection: { application_name: this.options.applicationName ?? "inlet-changes" },
      onclose: (error) => this.dropped(client, error),
    });
    try {
      await client.listen(this.channel, (payload) => this.receive(payload));
      await client.listen(this.pingChannel, (payload) => {
        this.pingsHeard = Math.max(this.pingsHeard, Number(payload));
      });
    } catch (error) {
      await client.close({ timeout: 0 }).catch(() => {});
      throw error;
    }
    if (this.closed) {
      await client.close({ timeout: 0 });
      return;
    }
    this.client = client;
  }

  private receive(payload: string): void {
    const change = decodeChange(payload);
    if (change) {
      this.listeners.emit(change);
      return;
    }
    // Sent by a newer version, most likely: something changed that this one cannot name, so flush all.
    logger.warn("change feed: unknown change, flushing caches", { payload: payload.slice(0, 200) });
    this.listeners.emit({ topic: "reset", reason: "unknown change" });
  }

  /** Sends the heartbeat; when it is not heard back within the timeout, the connection is lost. */
  private async ping(): Promise<void> {
    const client = this.client;
    if (!client || this.pingWait) return;
    const sent = ++this.pingsSent;
    try {
      await this.options.publisher.notify(this.pingChannel, String(sent));
    } catch {
      // The pool cannot reach the server either: nothing to learn about the listening connection now.
      return;
    }
    // Counted from the commit: a busy pool delays the heartbeat, not the verdict.
    this.pingWait = setTimeout(() => {
      this.pingWait = null;
      if (this.pingsHeard < sent) this.dropped(client, new Error(`heartbeat not heard within ${this.heartbeat.timeoutMs} ms`));
    }, this.heartbeat.timeoutMs);
    this.pingWait.unref();
  }

  private dropped(client: SQL, error: Error | null): void {
    if (this.closed || client !== this.client) return;
    this.client = null;
    logger.warn("change feed: listening connection lost, reconnecting", { error });
    // Stops Bun's own reconnection of this client: the feed opens a new one on its schedule.
    client.close({ timeout: 0 }).catch(() => {});
    this.schedule();
  }

  private schedule(): void {
    // Jittered, so instances that lost the server together do not all come back in the same instant.
    const wait = Math.round(this.delay * (0.5 + Math.random() / 2));
    this.delay = Math.min(this.delay * 2, this.backoff.maxMs);
    this.retry = setTimeout(() => void this.reconnect(), wait);
  }

  private async reconnect(): Promise<void> {
    this.retry = null;
    if (this.closed) return;
    try {
      await this.listen();
    } catch (error) {
      logger.warn("change feed: reconnection failed", { error, retryInMs: this.delay });
      if (!this.closed) this.schedule();
      return;
    }
    if (this.closed) return;
    this.delay = this.backoff.initialMs;
    this.reconnects++;
    logger.info("change feed: listening again, flushing caches");
    this.listeners.emit({ topic: "reset", reason: "reconnected" });
  }
}
