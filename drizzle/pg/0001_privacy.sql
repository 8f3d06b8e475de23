CREATE TABLE "privacy_deletions" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"subject_hash" text NOT NULL,
	"subject_kinds" text NOT NULL,
	"key_id" text,
	"key_prefix" text,
	"suppression_id" text,
	"events" integer NOT NULL,
	"sessions" integer NOT NULL,
	"visitors" integer NOT NULL,
	"leads" integer NOT NULL,
	"wal_truncated" boolean NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone NOT NULL,
	CONSTRAINT "privacy_deletions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "privacy_suppressions" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"subject_hash" text NOT NULL,
	"subject_kinds" text NOT NULL,
	"identifiers" jsonb NOT NULL,
	"key_id" text,
	"key_prefix" text,
	"created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "privacy_suppressions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "privacy_salt" text;--> statement-breakpoint
CREATE INDEX "privacy_deletions_tenant" ON "privacy_deletions" USING btree ("tenant_id","requested_at");