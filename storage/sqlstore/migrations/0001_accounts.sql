-- Accounts and their credentials. Credentials are salted SCRAM keys (and,
-- only when DIGEST-MD5 is enabled, the RFC 2831 digest), as JSON; never a
-- password.
CREATE TABLE accounts (
	host        TEXT NOT NULL,
	username    TEXT NOT NULL,
	credentials TEXT NOT NULL,
	created_at  BIGINT NOT NULL,
	PRIMARY KEY (host, username)
);

-- Server-wide secrets (stream-id and SASL fake-credential keys, later the
-- dialback secret), created on first use.
CREATE TABLE secrets (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);
