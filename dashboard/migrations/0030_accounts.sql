-- The dashboard's accounts, in the `dashboard` schema (its own migration history, apart from
-- the processor's tables in the default schema).

-- People who sign in. `admin` sees every project; `member` the projects in user_projects.
CREATE TABLE users (
    id            BIGSERIAL   PRIMARY KEY,
    email         TEXT        NOT NULL CHECK (length(email) BETWEEN 1 AND 254),
    -- argon2id, as a PHC string (parameters and salt included).
    password_hash TEXT        NOT NULL,
    role          TEXT        NOT NULL CHECK (role IN ('admin', 'member')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_by_email ON users (lower(email));

CREATE TABLE user_projects (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL,
    PRIMARY KEY (user_id, project_id)
);

-- Signed-in browsers. Only the SHA-256 of the cookie's token is kept: a copy of this table
-- signs no one in.
CREATE TABLE sessions (
    token_hash BYTEA       PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- Failed sign-ins, by account (`account:<email>`) and by address (`address:<ip>`), for the
-- throttle; rows older than its window are deleted as new ones arrive.
CREATE TABLE login_failures (
    key TEXT        NOT NULL,
    at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);
