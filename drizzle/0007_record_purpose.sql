ALTER TABLE `audit_records` ADD `purpose_index` blob;--> statement-breakpoint
ALTER TABLE `audit_records` ADD `purpose_enc` blob;