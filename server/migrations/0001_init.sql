-- Accounts, finished matches and who played in them.
-- Timestamps are Unix milliseconds (UTC).

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    -- The name as the player typed it (trimmed), shown everywhere.
    name          TEXT    NOT NULL,
    -- Lowercased name: uniqueness is case-insensitive.
    name_key      TEXT    NOT NULL UNIQUE,
    -- argon2 PHC string; never the password itself.
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE matches (
    id             INTEGER PRIMARY KEY,
    room_id        TEXT,
    -- The simulation seed, a u64 stored bit for bit in a signed INTEGER.
    seed           INTEGER,
    started_at     INTEGER,
    ended_at       INTEGER,
    duration_ms    INTEGER,
    -- "u<id>" or "g<random>"; NULL when nobody won.
    winner_user_id TEXT,
    -- Enough to replay the match: the seed plus this log reproduce every tick.
    input_log      BLOB
);

CREATE INDEX matches_ended_at ON matches (ended_at);

CREATE TABLE match_players (
    match_id INTEGER REFERENCES matches (id),
    user_id  TEXT,
    -- The name at the time of the match (guests have no account row).
    name     TEXT,
    guest    INTEGER,
    points   INTEGER,
    place    INTEGER,
    won      INTEGER
);

CREATE INDEX match_players_match_id ON match_players (match_id);
-- The leaderboard groups registered players' rows by user.
CREATE INDEX match_players_registered_user ON match_players (user_id) WHERE guest = 0;
