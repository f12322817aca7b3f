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
ALTER TABLE `sources` ADD `signature` blob DEFAULT x'' NOT NULL;--> statement-breakpoint
-- Rows written before they were authenticated cannot be told from rows an intruder wrote:
-- none is carried over. Sessions end (users log in again), source tokens are issued anew with
-- `source add`, and unused invitations are issued again (docs/decisions/009).
DELETE FROM `sessions`;--> statement-breakpoint
DELETE FROM `sources`;--> statement-breakpoint
DELETE FROM `invitations`;
