CREATE INDEX `lead_merges_into` ON `lead_merges` (`tenant_id`,`into_lead_id`);--> statement-breakpoint
CREATE INDEX `lead_merges_from` ON `lead_merges` (`tenant_id`,`from_lead_id`);