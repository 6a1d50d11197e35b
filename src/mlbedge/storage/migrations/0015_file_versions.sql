-- Which file version wrote each Pinnacle row, as the SBRO and Retrosheet tables already record:
-- loading a newer version of a file deletes the rows the older one wrote (no phantom rows).
ALTER TABLE staging.pinnacle_games ADD COLUMN file_sha256 text;
ALTER TABLE staging.pinnacle_lines ADD COLUMN file_sha256 text;
CREATE INDEX ON staging.pinnacle_lines (file_sha256);
CREATE INDEX ON raw.files (source, file_name);
