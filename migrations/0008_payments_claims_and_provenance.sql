CREATE TABLE `payment_retries` (
	`event_id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`event` text NOT NULL,
	`attempts` integer NOT NULL,
	`last_error` text NOT NULL,
	`first_failed_at` integer NOT NULL,
	`next_attempt_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `payment_retries_next` ON `payment_retries` (`next_attempt_at`);--> statement-breakpoint
CREATE TABLE `stripe_refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`payment_intent` text NOT NULL,
	`amount` integer NOT NULL,
	`failed_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_refunds_payment_intent` ON `stripe_refunds` (`payment_intent`);--> statement-breakpoint
CREATE TABLE `unapplied_payments` (
	`stripe_object` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`account_id` text,
	`reason` text NOT NULL,
	`amount` integer,
	`currency` text,
	`first_seen_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`seen` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `unapplied_payments_last_seen` ON `unapplied_payments` (`last_seen_at`);--> statement-breakpoint
ALTER TABLE `pending_refunds` ADD `reported_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `purchases` ADD `claims_version` integer DEFAULT 0 NOT NULL;