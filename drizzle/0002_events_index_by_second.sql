DROP INDEX `events_tenant_time`;--> statement-breakpoint
CREATE INDEX `events_tenant_second` ON `events` (`tenant_id`,("timestamp" / 1000));