package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/rest/resttest"
)

func TestRequestsOverTheInFlightBoundAreShedAtOnce(t *testing.T) {
	s := mw.NewShedder(1)
	inside := make(chan struct{})
	release := make(chan struct{})
	h := shed(s, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(inside)
		<-release
	}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	<-inside
	w := resttest.Do(t, h, "GET", "/", "")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second request: %d %v, want 503 with Retry-After", w.Code, w.Header())
	}
	close(release)
	<-done
	if s.InFlight() != 0 {
		t.Fatalf("%d still in flight", s.InFlight())
	}
}
