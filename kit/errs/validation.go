package errs

import (
	"fmt"
	"strings"
)

// Validation collects field violations so a client learns every problem
// with its input at once instead of one per round trip.
type Validation struct {
	fields []FieldViolation
}

// Check records a violation of field when ok is false.
func (v *Validation) Check(ok bool, field, message string) {
	if !ok {
		v.fields = append(v.fields, FieldViolation{Field: field, Message: message})
	}
}

// Add records a violation unconditionally.
func (v *Validation) Add(field, message string) {
	v.fields = append(v.fields, FieldViolation{Field: field, Message: message})
}

// Err is nil when nothing was recorded, else an InvalidArgument error
// listing every violation.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return Invalid(v.fields...)
}

// Invalid is an InvalidArgument error for the given violations. Its
// Message, a problem's detail, is written for a person reading a log or a
// client's error banner; the field violations are for programs:
//   - one field: "email: must be a valid address", or, when that field
//     has several violations, "password: too short; too common";
//   - several fields: "2 invalid fields: email, password", the fields in
//     the order they were reported, each named once.
func Invalid(fields ...FieldViolation) *Error {
	return &Error{Kind: InvalidArgument, Reason: ReasonValidation, Message: invalidMessage(fields), Fields: fields}
}

func invalidMessage(fields []FieldViolation) string {
	var names []string
	seen := map[string]bool{}
	for _, f := range fields {
		if !seen[f.Field] {
			seen[f.Field] = true
			names = append(names, f.Field)
		}
	}
	switch len(names) {
	case 0:
		return "invalid request"
	case 1:
		msgs := make([]string, len(fields))
		for i, f := range fields {
			msgs[i] = f.Message
		}
		return names[0] + ": " + strings.Join(msgs, "; ")
	}
	return fmt.Sprintf("%d invalid fields: %s", len(names), strings.Join(names, ", "))
}
