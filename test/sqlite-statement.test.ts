/**
 * The writer's statements take their values in order (src/db/sqlite/statement.ts): the order
 * each store passes is checked against drizzle's SQL when the statement is made, so a value can
 * never land in another column.
 */
import { expect, test } from "bun:test";
import { and, eq, sql } from "drizzle-orm";
import { openDatabase } from "../src/db/client";
import { events, leads } from "../src/db/schema";
import { positional } from "../src/db/sqlite/statement";

const p = (name: string) => sql.placeholder(name);

test("an insert's values are taken in the table's column order, whatever the order of `values`", () => {
  const { db, close } = openDatabase(":memory:");
  try {
    const insert = db.insert(leads).values({
      updatedAt: p("updatedAt"),
      createdAt: p("createdAt"),
      traitTimes: p("traitTimes"),
      traits: p("traits"),
      email: p("email"),
      userId: p("userId"),
      tenantId: p("tenantId"),
      id: p("id"),
    });
    expect(() => positional(db, insert, ["updatedAt", "createdAt", "traitTimes", "traits", "email", "userId", "tenantId", "id"])).toThrow(
      /takes id, tenantId, userId, email, traits, traitTimes, createdAt, updatedAt/,
    );
    const statement = positional(db, insert, ["id", "tenantId", "userId", "email", "traits", "traitTimes", "createdAt", "updatedAt"]);
    statement.run("l1", "t1", "u1", "a@example.com", "{}", "{}", 1, 2);
    const select = db
      .select({ id: leads.id, userId: leads.userId, email: leads.email, createdAt: leads.createdAt, updatedAt: leads.updatedAt })
      .from(leads)
      .where(and(eq(leads.tenantId, p("tenantId")), eq(leads.id, p("id"))));
    expect(() => positional(db, select, ["id", "tenantId"])).toThrow(/takes tenantId, id/);
    expect(positional(db, select, ["tenantId", "id"]).get("t1", "l1")).toEqual({
      id: "l1",
      user_id: "u1",
      email: "a@example.com",
      created_at: 1,
      updated_at: 2,
    });
  } finally {
    close();
  }
});

test("a constant bound by drizzle is refused: it would shift every value after it", () => {
  const { db, close } = openDatabase(":memory:");
  try {
    const select = db
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.tenantId, "t1"), eq(events.messageId, p("messageId"))));
    expect(() => positional(db, select, ["messageId"])).toThrow(/a constant/);
  } finally {
    close();
  }
});
