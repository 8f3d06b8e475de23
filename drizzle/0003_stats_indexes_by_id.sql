DROP INDEX `sessions_tenant_started`;--> statement-breakpoint
CREATE INDEX `sessions_tenant_id` ON `sessions` (`tenant_id`,`id`);--> statement-breakpoint
DROP INDEX `visitors_tenant_first_seen`;--> statement-breakpoint
CREATE INDEX `visitors_tenant_id` ON `visitors` (`tenant_id`,`id`,`lead_id`);