CREATE TABLE `history_dead_letters` (
	`message_id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`shard` text NOT NULL,
	`first_seq` integer,
	`last_seq` integer,
	`first_event_seq` integer,
	`last_event_seq` integer,
	`attempts` integer NOT NULL,
	`body` text NOT NULL,
	`received_at` integer NOT NULL,
	`resolved_at` integer
);
--> statement-breakpoint
CREATE INDEX `history_dead_letters_account` ON `history_dead_letters` (`account_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `usage_daily` (
	`account_id` text NOT NULL,
	`day` text NOT NULL,
	`operation` text NOT NULL,
	`count` integer NOT NULL,
	`credits` integer NOT NULL,
	PRIMARY KEY(`account_id`, `day`, `operation`)
);
--> statement-breakpoint
ALTER TABLE `accounts` ADD `history_shard` text DEFAULT 'DB' NOT NULL;--> statement-breakpoint
-- Usage for the history written before rollups existed. D1 has no time zones, so these days are UTC
-- days; everything shipped from now on is dated in the account's own zone (README, "Usage").
INSERT INTO `usage_daily` (`account_id`, `day`, `operation`, `count`, `credits`)
SELECT `account_id`, date(`created_at` / 1000, 'unixepoch'), COALESCE(`operation`, ''), count(*), -sum(`amount`)
FROM `ledger_entries` WHERE `kind` IN ('debit', 'capture') GROUP BY 1, 2, 3;
