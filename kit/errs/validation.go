package errs

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

// Invalid is an InvalidArgument error for the given violations.
func Invalid(fields ...FieldViolation) *Error {
	msg := "invalid request"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Kind: InvalidArgument, Reason: ReasonValidation, Message: msg, Fields: fields}
}
