CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text        NOT NULL CHECK (email = lower(email)),
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('customer', 'admin')),
    password_hash bytea       NOT NULL,
    address       jsonb,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE UNIQUE INDEX users_email_key ON users (email);
