CREATE TABLE `append_lease` (
	`id` integer PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `invitations` ADD `key_id` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `invitations` ADD `signature` blob DEFAULT x'' NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `mac` blob DEFAULT x'' NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `key_id` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `sources` ADD `signature` blob DEFAULT x'' NOT NULL;