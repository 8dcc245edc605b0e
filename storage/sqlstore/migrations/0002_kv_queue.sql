-- Generic per-account storage for feature modules (see storage.KV and
-- storage.Queue): small maps (roster, vCard, private XML, block list) and
-- ordered queues (offline messages).
CREATE TABLE kv (
	host     TEXT NOT NULL,
	username TEXT NOT NULL,
	store    TEXT NOT NULL,
	key      TEXT NOT NULL,
	value    BLOB NOT NULL,
	PRIMARY KEY (host, username, store, key)
);

CREATE TABLE queue (
	id         INTEGER PRIMARY KEY,
	host       TEXT NOT NULL,
	username   TEXT NOT NULL,
	store      TEXT NOT NULL,
	value      BLOB NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE INDEX queue_owner ON queue (host, username, store, id);
