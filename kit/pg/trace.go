package pg

import (
	"context"
	"database/sql/driver"
	"errors"
	"net"

	"github.com/lib/pq"
	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"

	"github.com/kitshop/kitshop/kit/tracing"
)

// Statement spans: a statement run with a context whose span records (a
// sampled trace) gets a CLIENT span of its own, child of that span, named
// from its SQL and tagged with its text (trace_name.go), with the server
// as the remote endpoint. Without a recording span the cost is one
// context lookup: nothing is named, tagged or allocated.

// TagQuery is the tag holding a statement's SQL text: placeholders
// ($1...), never parameter values.
const TagQuery = "sql.query"

// TagSQLState is the SQLSTATE of a statement that failed on the server.
const TagSQLState = "sql.state"

// remoteService names the database server on statement spans.
const remoteService = "postgres"

var kindClient = zipkin.Kind(model.Client)

// WithTracer makes the pool's statements spans of tracer. Without it the
// process's tracer is used (tracing.Default, which kit/boot's tracer is),
// looked up per statement, so a pool opened before the tracer still
// traces.
func WithTracer(t *zipkin.Tracer) Option {
	return func(o *options) { o.tracer = t }
}

// trace starts the span of query on c when ctx's span records; nil
// otherwise.
func (c *conn) trace(ctx context.Context, query string) zipkin.Span {
	parent := tracing.Recording(ctx)
	if parent == nil {
		return nil
	}
	tracer := c.tracer
	if tracer == nil {
		if tracer = tracing.Default(); tracer == nil {
			return nil
		}
	}
	st := describe(query)
	sp := tracer.StartSpan(st.name, kindClient, zipkin.Parent(parent.Context()), zipkin.RemoteEndpoint(c.remote))
	sp.Tag(TagQuery, st.text)
	return sp
}

// endTrace ends a statement's span (nil: none) with err's outcome. The
// error's text is never put on the span (a server message may quote a
// value): only its SQLSTATE or what kind of failure it was. Integrity
// violations (class 23) are answers stores act on (a taken email, a
// repeated key), not faults, and do not mark the span as an error.
func endTrace(sp zipkin.Span, err error) {
	if sp == nil {
		return
	}
	if err != nil {
		var ab *AbandonedError
		switch e := pq.As(err); {
		case e != nil:
			sp.Tag(TagSQLState, string(e.Code))
			if e.Code.Class() != "23" {
				zipkin.TagError.Set(sp, "SQLSTATE "+string(e.Code))
			}
		case errors.As(err, &ab):
			zipkin.TagError.Set(sp, "abandoned: "+ab.ctxErr.Error())
		case errors.Is(err, driver.ErrBadConn):
			zipkin.TagError.Set(sp, "bad connection")
		default:
			zipkin.TagError.Set(sp, "failed")
		}
	}
	sp.Finish()
}

// tracedRows hands a query's span to its rows, which end it when closed
// (reading them is part of the statement); a failed query ends it now.
func tracedRows(sp zipkin.Span, r driver.Rows, err error) (driver.Rows, error) {
	if sp == nil {
		return r, err
	}
	if rr, ok := r.(*rows); ok && err == nil {
		rr.span = sp
		return r, nil
	}
	endTrace(sp, err)
	return r, err
}

// remoteEndpoint is the server end of a connection, for its spans.
func remoteEndpoint(nc net.Conn) *model.Endpoint {
	ep := &model.Endpoint{ServiceName: remoteService}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip4 := a.IP.To4(); ip4 != nil {
			ep.IPv4 = ip4
		} else {
			ep.IPv6 = a.IP
		}
		ep.Port = uint16(a.Port)
	}
	return ep
}
