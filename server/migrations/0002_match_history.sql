-- Match history and replays: the room's name at the end of the match, and the number
-- of rounds played (the players' recorded standings are in match_players).
ALTER TABLE matches ADD COLUMN room_name TEXT;
ALTER TABLE matches ADD COLUMN rounds INTEGER;
