package main

// TEMPORARY (deleted by the store work): lets main compile before the
// stores exist.

import "database/sql"

type memoryStore struct{ Store }

func newMemoryStore() *memoryStore { return &memoryStore{} }

type postgresStore struct{ Store }

func newPostgresStore(db *sql.DB) *postgresStore { return &postgresStore{} }
