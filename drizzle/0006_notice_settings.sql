CREATE TABLE `notice_settings` (
	`id` text PRIMARY KEY NOT NULL,
	`patient_index` blob NOT NULL,
	`email_enc` blob NOT NULL,
	`pending_email_enc` blob NOT NULL,
	`token_hash` blob NOT NULL,
	`token_expires_at` integer NOT NULL,
	`new_actors` integer NOT NULL,
	`emergency` integer NOT NULL,
	`trail_log_id` text NOT NULL,
	`updated_at` integer NOT NULL,
	`key_id` text NOT NULL,
	`signature` blob NOT NULL
);
--> statement-breakpoint
CREATE INDEX `notice_settings_token_hash` ON `notice_settings` (`token_hash`);