import { defineConfig } from "drizzle-kit";

/** The PostgreSQL store's migrations, beside SQLite's (drizzle.config.ts). */
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/db/pg-schema.ts",
  out: "./drizzle/pg",
});
