-- History keyed by (account_id, seq) instead of an id built from a random 8-character account tag,
-- which two accounts could share (their rows then collided and one account's were dropped).
-- Existing rows are carried over; an event's seq is read back from its old id `evt_<8-char tag>_<seq>`.
-- Rows lost to a collision before this migration are re-shipped by the objects (their schema v4).
CREATE TABLE `__new_ledger_entries` (
	`account_id` text NOT NULL,
	`seq` integer NOT NULL,
	`kind` text NOT NULL,
	`amount` integer NOT NULL,
	`balance_after` integer NOT NULL,
	`operation` text,
	`quantities` text,
	`hold_id` text,
	`lot_id` text,
	`reserved` integer,
	`description` text,
	`metadata` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `seq`)
);
--> statement-breakpoint
INSERT OR IGNORE INTO `__new_ledger_entries`("account_id", "seq", "kind", "amount", "balance_after", "operation", "quantities", "hold_id", "lot_id", "reserved", "description", "metadata", "created_at") SELECT "account_id", "seq", "kind", "amount", "balance_after", "operation", "quantities", "hold_id", "lot_id", "reserved", "description", "metadata", "created_at" FROM `ledger_entries`;--> statement-breakpoint
DROP TABLE `ledger_entries`;--> statement-breakpoint
ALTER TABLE `__new_ledger_entries` RENAME TO `ledger_entries`;--> statement-breakpoint
CREATE INDEX `ledger_entries_account_kind` ON `ledger_entries` (`account_id`,`kind`,`seq`);--> statement-breakpoint
CREATE INDEX `ledger_entries_account_operation` ON `ledger_entries` (`account_id`,`operation`,`seq`);--> statement-breakpoint
CREATE INDEX `ledger_entries_account_created` ON `ledger_entries` (`account_id`,`created_at`,`seq`);--> statement-breakpoint
CREATE TABLE `__new_account_events` (
	`account_id` text NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`data` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`account_id`, `seq`)
);
--> statement-breakpoint
INSERT OR IGNORE INTO `__new_account_events`("account_id", "seq", "type", "data", "created_at") SELECT "account_id", CAST(substr("id", 14) AS INTEGER), "type", "data", "created_at" FROM `account_events`;--> statement-breakpoint
DROP TABLE `account_events`;--> statement-breakpoint
ALTER TABLE `__new_account_events` RENAME TO `account_events`;--> statement-breakpoint
CREATE INDEX `account_events_account` ON `account_events` (`account_id`,`created_at`);