CREATE TABLE `payment_repairs` (
	`stripe_object` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`run_id` text NOT NULL,
	`account_id` text,
	`credits` integer DEFAULT 0 NOT NULL,
	`amount` integer DEFAULT 0 NOT NULL,
	`currency` text,
	`outcome` text NOT NULL,
	`repaired_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `payment_repairs_repaired` ON `payment_repairs` (`repaired_at`);--> statement-breakpoint
ALTER TABLE `stripe_customers` ADD `payment_method` text;--> statement-breakpoint
ALTER TABLE `stripe_customers` ADD `payment_method_saved_at` integer;