-- The game a match was played in: every match stored before games could be chosen was
-- Curve.
ALTER TABLE matches ADD COLUMN game TEXT NOT NULL DEFAULT 'curve';
