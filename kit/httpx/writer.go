package httpx

import "net/http"

// statusWriter records what a handler wrote so middleware can log it, and
// whether anything was written at all so Recover knows if a problem can
// still be sent.
type statusWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	written bool
}

// recording is w as a statusWriter: w itself when an outer middleware
// (Metrics, AccessLog, Recover) already wraps this response in one, which
// then serves them all with one allocation per request instead of one each.
func recording(w http.ResponseWriter) *statusWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw
	}
	return &statusWriter{ResponseWriter: w}
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.written {
		s.status = code
		// 1xx responses are informational; the real status follows.
		s.written = code >= 200
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.written {
		s.status, s.written = http.StatusOK, true
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Flush keeps streaming handlers working behind the middleware.
func (s *statusWriter) Flush() {
	if !s.written {
		s.status, s.written = http.StatusOK, true
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer's
// optional features (deadlines, hijacking).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status is the status sent, or 200 when the handler wrote nothing (which
// net/http answers as 200).
func (s *statusWriter) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}
