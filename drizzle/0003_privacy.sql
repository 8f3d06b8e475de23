CREATE TABLE `privacy_deletions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`subject_hash` text NOT NULL,
	`subject_kinds` text NOT NULL,
	`key_id` text,
	`key_prefix` text,
	`suppression_id` text,
	`events` integer NOT NULL,
	`sessions` integer NOT NULL,
	`visitors` integer NOT NULL,
	`leads` integer NOT NULL,
	`wal_truncated` integer NOT NULL,
	`requested_at` integer NOT NULL,
	`finished_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `privacy_deletions_tenant` ON `privacy_deletions` (`tenant_id`,`requested_at`);--> statement-breakpoint
CREATE TABLE `privacy_suppressions` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`subject_hash` text NOT NULL,
	`subject_kinds` text NOT NULL,
	`identifiers` text NOT NULL,
	`key_id` text,
	`key_prefix` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `privacy_suppressions_tenant` ON `privacy_suppressions` (`tenant_id`);--> statement-breakpoint
ALTER TABLE `tenants` ADD `privacy_salt` text;