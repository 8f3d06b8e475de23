CREATE TABLE `writer_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` integer NOT NULL
);
--> statement-breakpoint
DROP INDEX `events_tenant_visitor`;--> statement-breakpoint
ALTER TABLE `sessions` ADD `lead_id` text;--> statement-breakpoint
ALTER TABLE `sessions` ADD `anonymous_events` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `counted_through` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `sessions_tenant_lead` ON `sessions` (`tenant_id`,`lead_id`) WHERE lead_id IS NOT NULL;--> statement-breakpoint
-- Custom: sessions of an existing database were counted event by event, so nothing before
-- this point is to be counted again after a crash.
INSERT INTO `writer_state` (`key`, `value`) SELECT 'sessions_counted_through', coalesce(max(`id`), 0) FROM `events`;
