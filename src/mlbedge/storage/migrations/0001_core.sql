-- Three layers: raw (what was received, untouched), staging (typed, per source), curated (unified).
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS curated;

-- Every historical file loaded, byte for byte. Identical content is stored once.
CREATE TABLE raw.files (
    sha256          text PRIMARY KEY,
    source          text NOT NULL,
    file_name       text NOT NULL,
    size_bytes      bigint NOT NULL,
    content         bytea NOT NULL,
    first_loaded_at timestamptz NOT NULL DEFAULT now()
);

-- Rows that could not be parsed: kept with where they came from and why.
CREATE TABLE staging.quarantine (
    source      text NOT NULL,
    file_sha256 text NOT NULL,
    file_name   text NOT NULL,
    row_number  integer NOT NULL,
    reason      text NOT NULL,
    raw_row     text NOT NULL,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, file_sha256, row_number, reason)
);
