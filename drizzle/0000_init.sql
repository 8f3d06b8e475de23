CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`kind` text DEFAULT 'write' NOT NULL,
	`prefix` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_hash` ON `api_keys` (`hash`);--> statement-breakpoint
CREATE INDEX `api_keys_tenant` ON `api_keys` (`tenant_id`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`message_id` text NOT NULL,
	`type` text NOT NULL,
	`event` text,
	`anonymous_id` text,
	`user_id` text,
	`visitor_id` text NOT NULL,
	`session_id` text NOT NULL,
	`lead_id` text,
	`timestamp` integer NOT NULL,
	`original_timestamp` integer,
	`sent_at` integer,
	`received_at` integer NOT NULL,
	`properties` text,
	`traits` text,
	`context` text,
	`integrations` text,
	`extra` text,
	`schema_version` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_message` ON `events` (`tenant_id`,`message_id`);--> statement-breakpoint
CREATE INDEX `events_tenant_time` ON `events` (`tenant_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_tenant_visitor` ON `events` (`tenant_id`,`visitor_id`);--> statement-breakpoint
CREATE INDEX `events_tenant_lead` ON `events` (`tenant_id`,`lead_id`) WHERE lead_id IS NOT NULL;--> statement-breakpoint
CREATE TABLE `identity_links` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`visitor_id` text NOT NULL,
	`lead_id` text NOT NULL,
	`message_id` text NOT NULL,
	`linked_at` integer NOT NULL,
	`unlinked_at` integer
);
--> statement-breakpoint
CREATE INDEX `identity_links_visitor` ON `identity_links` (`tenant_id`,`visitor_id`);--> statement-breakpoint
CREATE INDEX `identity_links_lead` ON `identity_links` (`tenant_id`,`lead_id`);--> statement-breakpoint
CREATE TABLE `lead_merges` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`from_lead_id` text NOT NULL,
	`into_lead_id` text NOT NULL,
	`reason` text NOT NULL,
	`message_id` text NOT NULL,
	`merged_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `leads` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`user_id` text,
	`email` text,
	`traits` text DEFAULT '{}' NOT NULL,
	`trait_times` text DEFAULT '{}' NOT NULL,
	`group_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`merged_into` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `leads_tenant_user` ON `leads` (`tenant_id`,`user_id`);--> statement-breakpoint
CREATE INDEX `leads_tenant_email` ON `leads` (`tenant_id`,`email`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`visitor_id` text NOT NULL,
	`started_at` integer NOT NULL,
	`last_event_at` integer NOT NULL,
	`event_count` integer DEFAULT 0 NOT NULL,
	`landing_page` text,
	`referrer` text,
	`campaign` text,
	`channel` text
);
--> statement-breakpoint
CREATE INDEX `sessions_visitor` ON `sessions` (`tenant_id`,`visitor_id`);--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`settings` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `visitors` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`key` text NOT NULL,
	`anonymous_id` text,
	`user_id` text,
	`lead_id` text,
	`first_seen_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `visitors_tenant_key` ON `visitors` (`tenant_id`,`key`);