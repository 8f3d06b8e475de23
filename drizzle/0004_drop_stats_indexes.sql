DROP INDEX `sessions_tenant_id`;--> statement-breakpoint
DROP INDEX `visitors_tenant_id`;