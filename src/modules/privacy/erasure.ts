/**
 * Erasing and suppressing a person on a store with transactions of its own (PostgreSQL, any number
 * of instances): the same API and receipts as `PrivacyService` on SQLite (service.ts).
 *
 * The person is resolved as on SQLite. Their events are deleted in id ranges, one short
 * transaction per range holding the locks ingestion takes for the person (ErasureStore), so
 * ingestion goes on meanwhile and an instance ingesting for the person waits for the step instead
 * of recreating half of it. The last transaction resolves the person again under the locks; when
 * a visitor or lead joined meanwhile the table is read again with the larger sets (at most a few
 * times), else it deletes what arrived since the scan passed, then the sessions, visitors,
 * identity links, merges and leads. Deleted rows are dead tuples until VACUUM (docs/privacy.md).
 */
import type { NotifyHandle } from "../../db/change-feed";
import type { DeletionRecord, ErasureStore, Person, SuppressionRecord } from "../../db/privacy-store";
import { logger } from "../../logger";
import type { Privacy } from "./contract";
import { parseSettings } from "../tenants/settings";
import { nextTurn } from "./store";
import {
  cleanSubject,
  type Counts,
  ipChanges,
  type DeletionReceipt,
  iso,
  NoSuchTenant,
  personHashes,
  type PrivacyOptions,
  type Requester,
  type Subject,
  subjectHash,
  subjectKinds,
  type SuppressionView,
  toReceipt,
} from "./service";
import type { SuppressionList } from "./suppressions";

/** Times the events are read again because the person grew during its deletion. */
const MAX_ROUNDS = 3;

export interface ErasureOptions extends Pick<PrivacyOptions, "scanRows" | "onErased"> {
  /** Publishes a suppression change to every instance (the change feed), in the transaction that made it. */
  publish: (change: { topic: "suppression"; tenantId: string; id: string }, via: NotifyHandle) => Promise<void>;
}

export class ErasureService implements Privacy {
  private readonly scanRows: number;
  /** This instance's deletions run one after another. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: ErasureStore,
    private readonly suppressions: SuppressionList | null,
    private readonly options: ErasureOptions,
  ) {
    this.scanRows = options.scanRows ?? 5_000;
  }

  delete(tenantId: string, subject: Subject, options: { suppress?: boolean; by: Requester }): Promise<DeletionReceipt> {
    const run = this.queue.then(() => this.deleteNow(tenantId, cleanSubject(subject), options));
    this.queue = run.catch(() => {});
    return run;
  }

  private async deleteNow(tenantId: string, subject: Subject, options: { suppress?: boolean; by: Requester }): Promise<DeletionReceipt> {
    const requestedAt = Date.now();
    const salt = await this.salt(tenantId);
    const person = await this.store.resolve(tenantId, subject);
    // Suppressed before anything is deleted: what the person sends meanwhile is not stored.
    const suppressionId = options.suppress ? (await this.suppressPerson(tenantId, subject, person, salt, options.by)).id : null;
    const deleted: Counts = { events: 0, sessions: 0, visitors: 0, leads: 0 };
    for (let round = 0; ; round++) {
      let cursor = 0;
      for (;;) {
        const last = await this.store.lastEventId();
        if (last - cursor <= this.scanRows) break;
        while (cursor < last) {
          const upper = Math.min(cursor + this.scanRows, last);
          deleted.events += await this.store.eraseEvents(tenantId, person, cursor, upper);
          cursor = upper;
          await nextTurn();
        }
      }
      // (After a few rounds, what is known now is deleted: the person must not keep it going.)
      const rest = await this.store.eraseRest(tenantId, subject, person, cursor, round >= MAX_ROUNDS);
      if (rest === null) continue;
      deleted.events += rest.events;
      deleted.sessions += rest.sessions;
      deleted.visitors += rest.visitors;
      deleted.leads += rest.leads;
      break;
    }
    const record: DeletionRecord = {
      id: Bun.randomUUIDv7(),
      tenantId,
      subjectHash: subjectHash(salt, subject),
      subjectKinds: subjectKinds(subject),
      keyId: options.by?.keyId ?? null,
      keyPrefix: options.by?.keyPrefix ?? null,
      suppressionId,
      ...deleted,
      // No write-ahead log to empty here: see docs/privacy.md for what remains on PostgreSQL.
      walTruncated: false,
      requestedAt,
      finishedAt: Date.now(),
    };
    await this.store.insertDeletion(record);
    this.options.onErased?.(tenantId, deleted);
    logger.info("privacy deletion", { tenantId, deletionId: record.id, ...deleted, ms: record.finishedAt - requestedAt });
    return toReceipt(record);
  }

  async requester(keyId: string): Promise<Requester> {
    return { keyId, keyPrefix: await this.store.keyPrefix(keyId) };
  }

  async receipt(tenantId: string, deletionId: string): Promise<DeletionReceipt | null> {
    const record = await this.store.deletion(tenantId, deletionId);
    return record ? toReceipt(record) : null;
  }

  async deletions(tenantId: string) {
    return (await this.store.deletions(tenantId)).map((record) => ({
      ...toReceipt(record),
      subjectHash: record.subjectHash,
      subjectKinds: record.subjectKinds,
    }));
  }

  async suppress(tenantId: string, subject: Subject, by: Requester): Promise<SuppressionView> {
    const clean = cleanSubject(subject);
    const salt = await this.salt(tenantId);
    return suppressionView(await this.suppressPerson(tenantId, clean, await this.store.resolve(tenantId, clean), salt, by));
  }

  async suppressionsOf(tenantId: string): Promise<SuppressionView[]> {
    return (await this.store.suppressions(tenantId)).map(suppressionView);
  }

  async lift(tenantId: string, suppressionId: string): Promise<boolean> {
    const lifted = await this.store.removeSuppression(tenantId, suppressionId, (via) =>
      this.options.publish({ topic: "suppression", tenantId, id: suppressionId }, via),
    );
    if (lifted) this.suppressions?.remove(tenantId, suppressionId);
    return lifted;
  }

  /** Applies the tenant's IP policy (anonymize or drop) to the events already stored, in id ranges; answers how many events changed. */
  async applyIpPolicy(tenantId: string): Promise<{ policy: string; events: number }> {
    const settings = await this.store.settingsOf(tenantId);
    if (settings === null) throw new NoSuchTenant(tenantId);
    const policy = parseSettings(settings).ipPolicy;
    if (policy === "full") return { policy, events: 0 };
    const last = await this.store.lastEventId();
    let changed = 0;
    for (let cursor = 0; cursor < last; cursor += this.scanRows) {
      const changes = ipChanges(policy, await this.store.eventIps(tenantId, cursor, Math.min(cursor + this.scanRows, last)));
      if (changes.length > 0) await this.store.setEventIps(tenantId, changes);
      changed += changes.length;
      await nextTurn();
    }
    return { policy, events: changed };
  }

  /** Stores the person's identifiers (hashed) as one suppression, tells every instance, and puts it in this one's list. */
  private async suppressPerson(tenantId: string, subject: Subject, person: Person, salt: string, by: Requester): Promise<SuppressionRecord> {
    const saved = await this.store.saveSuppression(
      {
        id: Bun.randomUUIDv7(),
        tenantId,
        subjectHash: subjectHash(salt, subject),
        subjectKinds: subjectKinds(subject),
        identifiers: [...personHashes(salt, subject, person)],
        keyId: by?.keyId ?? null,
        keyPrefix: by?.keyPrefix ?? null,
        createdAt: Date.now(),
      },
      (via, id) => this.options.publish({ topic: "suppression", tenantId, id }, via),
    );
    this.suppressions?.add(tenantId, salt, saved.id, saved.identifiers);
    return saved;
  }

  /** The tenant's salt, made on first use (the first one stored wins, whichever instance made it). */
  private async salt(tenantId: string): Promise<string> {
    const made = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
    const salt = await this.store.salt(tenantId, made);
    if (salt === undefined) throw new NoSuchTenant(tenantId);
    return salt;
  }
}

function suppressionView(record: SuppressionRecord): SuppressionView {
  return {
    suppressionId: record.id,
    tenantId: record.tenantId,
    subjectHash: record.subjectHash,
    subjectKinds: record.subjectKinds,
    identifiers: record.identifiers.length,
    createdAt: iso(record.createdAt),
    requestedBy: { keyId: record.keyId, keyPrefix: record.keyPrefix },
  };
}
