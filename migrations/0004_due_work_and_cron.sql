CREATE TABLE `cron_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`cutoff` integer NOT NULL,
	`cursor` text,
	`invocations` integer DEFAULT 1 NOT NULL,
	`accounts` integer DEFAULT 0 NOT NULL,
	`failures` integer DEFAULT 0 NOT NULL,
	`entries_repaired` integer DEFAULT 0 NOT NULL,
	`events_repaired` integer DEFAULT 0 NOT NULL,
	`drift_accounts` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `cron_runs_kind_started` ON `cron_runs` (`kind`,`started_at`);--> statement-breakpoint
CREATE TABLE `history_drift` (
	`run_id` text NOT NULL,
	`account_id` text NOT NULL,
	`found_at` integer NOT NULL,
	`shard` text NOT NULL,
	`missing_entries` integer NOT NULL,
	`missing_events` integer NOT NULL,
	`sum_difference` integer NOT NULL,
	`entries_repaired` integer NOT NULL,
	`events_repaired` integer NOT NULL,
	`unresolved_difference` integer NOT NULL,
	PRIMARY KEY(`run_id`, `account_id`)
);
--> statement-breakpoint
CREATE INDEX `history_drift_found` ON `history_drift` (`found_at`);--> statement-breakpoint
CREATE TABLE `system_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `accounts` ADD `due_at` integer;--> statement-breakpoint
ALTER TABLE `accounts` ADD `due_computed_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `accounts` ADD `next_allowance_at` integer;--> statement-breakpoint
ALTER TABLE `accounts` ADD `next_hold_expiry_at` integer;--> statement-breakpoint
ALTER TABLE `accounts` ADD `sweep_claimed_by` text;--> statement-breakpoint
ALTER TABLE `accounts` ADD `sweep_claimed_until` integer;--> statement-breakpoint
CREATE INDEX `accounts_due` ON `accounts` (`due_at`);--> statement-breakpoint
CREATE INDEX `accounts_updated` ON `accounts` (`updated_at`);--> statement-breakpoint
-- Accounts from before the index: the first sweep visits each once, and its object says what is due.
UPDATE `accounts` SET `due_at` = 0;
