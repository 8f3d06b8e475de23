CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"kind" text DEFAULT 'write' NOT NULL,
	"prefix" text NOT NULL,
	"hash" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "events" (
	"tenant_id" text NOT NULL,
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"message_id" text NOT NULL,
	"type" text NOT NULL,
	"event" text,
	"anonymous_id" text,
	"user_id" text,
	"visitor_id" text NOT NULL,
	"session_id" text NOT NULL,
	"lead_id" text,
	"timestamp" timestamp with time zone NOT NULL,
	"original_timestamp" timestamp with time zone,
	"sent_at" timestamp with time zone,
	"received_at" timestamp with time zone NOT NULL,
	"properties" jsonb,
	"traits" jsonb,
	"context" jsonb,
	"integrations" jsonb,
	"extra" jsonb,
	"schema_version" text,
	CONSTRAINT "events_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "identity_links" (
	"tenant_id" text NOT NULL,
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "identity_links_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"visitor_id" text NOT NULL,
	"lead_id" text NOT NULL,
	"message_id" text NOT NULL,
	"linked_at" timestamp with time zone NOT NULL,
	"unlinked_at" timestamp with time zone,
	CONSTRAINT "identity_links_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "lead_merges" (
	"tenant_id" text NOT NULL,
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "lead_merges_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"from_lead_id" text NOT NULL,
	"into_lead_id" text NOT NULL,
	"reason" text NOT NULL,
	"message_id" text NOT NULL,
	"merged_at" timestamp with time zone NOT NULL,
	CONSTRAINT "lead_merges_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "leads" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"user_id" text,
	"email" text,
	"traits" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"trait_times" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"group_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"merged_into" text,
	CONSTRAINT "leads_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"visitor_id" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"last_event_at" timestamp with time zone NOT NULL,
	"event_count" integer DEFAULT 0 NOT NULL,
	"landing_page" text,
	"referrer" text,
	"campaign" jsonb,
	"channel" text,
	"lead_id" text,
	"anonymous_events" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "sessions_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "visitors" (
	"tenant_id" text NOT NULL,
	"id" text NOT NULL,
	"key" text NOT NULL,
	"anonymous_id" text,
	"user_id" text,
	"lead_id" text,
	"first_seen_at" timestamp with time zone NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	CONSTRAINT "visitors_tenant_id_id_pk" PRIMARY KEY("tenant_id","id")
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_hash" ON "api_keys" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "api_keys_tenant" ON "api_keys" USING btree ("tenant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "events_tenant_message" ON "events" USING btree ("tenant_id","message_id");--> statement-breakpoint
CREATE INDEX "events_tenant_timestamp" ON "events" USING btree ("tenant_id","timestamp");--> statement-breakpoint
CREATE INDEX "events_tenant_lead" ON "events" USING btree ("tenant_id","lead_id") WHERE lead_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "identity_links_visitor" ON "identity_links" USING btree ("tenant_id","visitor_id");--> statement-breakpoint
CREATE INDEX "identity_links_lead" ON "identity_links" USING btree ("tenant_id","lead_id");--> statement-breakpoint
CREATE UNIQUE INDEX "leads_tenant_user" ON "leads" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE INDEX "leads_tenant_email" ON "leads" USING btree ("tenant_id","email");--> statement-breakpoint
CREATE INDEX "sessions_visitor" ON "sessions" USING btree ("tenant_id","visitor_id");--> statement-breakpoint
CREATE INDEX "sessions_tenant_lead" ON "sessions" USING btree ("tenant_id","lead_id") WHERE lead_id IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "visitors_tenant_key" ON "visitors" USING btree ("tenant_id","key");