CREATE TABLE `witness_cosignatures` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`key_name` text NOT NULL,
	`key_id` integer NOT NULL,
	`tree_size` integer NOT NULL,
	`root_hash` blob NOT NULL,
	`timestamp` integer NOT NULL,
	`signature_line` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `witness_cosignatures_key_size` ON `witness_cosignatures` (`key_name`,`key_id`,`tree_size`);