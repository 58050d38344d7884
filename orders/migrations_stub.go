package main

// TEMPORARY (deleted at merge): the store work declares migrationFiles in
// store_postgres.go, embedding migrations/*.sql. Until then an empty FS
// lets main compile.

import "embed"

var migrationFiles embed.FS
