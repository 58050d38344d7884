package main

// TEMPORARY (deleted at merge): the service declares these defaults of
// Options in service_saga.go; main's flags show them. Until then they are
// copied here.

import "time"

const (
	defaultReservationTTL = 15 * time.Minute
	defaultLeaseTTL       = 30 * time.Second
	defaultResumeInterval = 5 * time.Second
	defaultMaxDriving     = 256
)
