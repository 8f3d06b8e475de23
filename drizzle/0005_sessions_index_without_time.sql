DROP INDEX `sessions_visitor_time`;--> statement-breakpoint
CREATE INDEX `sessions_visitor` ON `sessions` (`tenant_id`,`visitor_id`);