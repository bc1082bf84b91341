-- The PostgreSQL form of ../0002_match_history.sql.
ALTER TABLE matches ADD COLUMN room_name TEXT;
ALTER TABLE matches ADD COLUMN rounds BIGINT;
