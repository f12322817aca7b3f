CREATE TABLE `audit_records` (
	`seq` integer PRIMARY KEY NOT NULL,
	`log_id` text NOT NULL,
	`prev_log_id` text,
	`patient_index` blob NOT NULL,
	`actor_index` blob NOT NULL,
	`action_index` blob NOT NULL,
	`table_index` blob NOT NULL,
	`patient_id_enc` blob NOT NULL,
	`actor_id_enc` blob NOT NULL,
	`actor_name_enc` blob NOT NULL,
	`action_enc` blob NOT NULL,
	`table_affected_enc` blob NOT NULL,
	`notes_enc` blob NOT NULL,
	`occurred_at` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	`source_id` text NOT NULL,
	`key_id` text NOT NULL,
	`signature` blob NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_records_log_id` ON `audit_records` (`log_id`);--> statement-breakpoint
CREATE INDEX `audit_records_patient_seq` ON `audit_records` (`patient_index`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_records_actor_seq` ON `audit_records` (`actor_index`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_records_action_seq` ON `audit_records` (`action_index`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_records_table_seq` ON `audit_records` (`table_index`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_records_occurred_at` ON `audit_records` (`occurred_at`);--> statement-breakpoint
CREATE TABLE `checkpoints` (
	`number` integer PRIMARY KEY NOT NULL,
	`origin` text NOT NULL,
	`tree_size` integer NOT NULL,
	`root_hash` blob NOT NULL,
	`last_log_id` text,
	`created_at` integer NOT NULL,
	`key_id` text NOT NULL,
	`signature` blob NOT NULL,
	`frontier` blob NOT NULL
);
--> statement-breakpoint
CREATE TABLE `incidents` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`fingerprint` blob NOT NULL,
	`detected_at` integer NOT NULL,
	`triggered_by` text,
	`findings` text NOT NULL,
	`notified_at` integer,
	`delivery` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `incidents_fingerprint_unique` ON `incidents` (`fingerprint`);--> statement-breakpoint
CREATE TABLE `invitations` (
	`id` text PRIMARY KEY NOT NULL,
	`code_hash` blob NOT NULL,
	`patient_id_enc` blob NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	`used_by` text,
	FOREIGN KEY (`used_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `invitations_code_hash_unique` ON `invitations` (`code_hash`);--> statement-breakpoint
CREATE TABLE `login_failures` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`subject_index` blob NOT NULL,
	`kind` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `login_failures_subject_at` ON `login_failures` (`subject_index`,`at`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id_hash` blob PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `sessions_expires_at` ON `sessions` (`expires_at`);--> statement-breakpoint
CREATE TABLE `sources` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`token_hash` blob NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sources_name_unique` ON `sources` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `sources_token_hash_unique` ON `sources` (`token_hash`);--> statement-breakpoint
CREATE TABLE `tree_nodes` (
	`level` integer NOT NULL,
	`idx` integer NOT NULL,
	`hash` blob NOT NULL,
	PRIMARY KEY(`level`, `idx`)
);
--> statement-breakpoint
CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`username_index` blob NOT NULL,
	`name_enc` blob NOT NULL,
	`username_enc` blob NOT NULL,
	`password_enc` blob NOT NULL,
	`role_enc` blob NOT NULL,
	`patient_id_enc` blob NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`key_id` text NOT NULL,
	`signature` blob NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_index_unique` ON `users` (`username_index`);