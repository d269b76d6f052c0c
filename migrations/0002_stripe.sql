CREATE TABLE `pending_refunds` (
	`payment_intent` text PRIMARY KEY NOT NULL,
	`amount` integer NOT NULL,
	`amount_refunded` integer NOT NULL,
	`received_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`applied_at` integer
);
--> statement-breakpoint
CREATE TABLE `purchases` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`package_id` text NOT NULL,
	`credits` integer NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`status` text NOT NULL,
	`credits_clawed_back` integer DEFAULT 0 NOT NULL,
	`amount_refunded` integer DEFAULT 0 NOT NULL,
	`payment_intent` text,
	`customer` text,
	`lot_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `purchases_payment_intent_unique` ON `purchases` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `purchases_account_created` ON `purchases` (`account_id`,`created_at`,`id`);--> statement-breakpoint
CREATE TABLE `stripe_customers` (
	`account_id` text PRIMARY KEY NOT NULL,
	`customer_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `stripe_customers_customer_id_unique` ON `stripe_customers` (`customer_id`);--> statement-breakpoint
CREATE TABLE `stripe_disputes` (
	`id` text PRIMARY KEY NOT NULL,
	`payment_intent` text NOT NULL,
	`amount` integer NOT NULL,
	`status` text NOT NULL,
	`credits_clawed_back` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `stripe_disputes_payment_intent` ON `stripe_disputes` (`payment_intent`);--> statement-breakpoint
CREATE TABLE `stripe_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`received_at` integer NOT NULL,
	`applied_at` integer,
	`outcome` text
);
