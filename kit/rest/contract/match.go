package contract

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Matcher checks one JSON value, decoded by encoding/json (objects are
// map[string]any, numbers float64), and says what is wrong with it.
type Matcher func(v any, vars Vars) error

// Object matches an object with exactly these members: a missing member
// and an extra one are both broken promises (an extra one may leak a
// secret, such as a password hash).
func Object(members map[string]Matcher) Matcher {
	return func(v any, vars Vars) error {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object, got %s", describe(v))
		}
		for name, m := range members {
			got, ok := obj[name]
			if !ok {
				return fmt.Errorf("no member %q", name)
			}
			if err := m(got, vars); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		var extra []string
		for name := range obj {
			if _, ok := members[name]; !ok {
				extra = append(extra, name)
			}
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			return fmt.Errorf("unexpected members %v", extra)
		}
		return nil
	}
}

// Members matches an object that has at least these members: for a
// problem document, whose standard members vary (trace_id, errors) while
// the ones an error adds are the promise.
func Members(members map[string]Matcher) Matcher {
	return func(v any, vars Vars) error {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object, got %s", describe(v))
		}
		for name, m := range members {
			got, ok := obj[name]
			if !ok {
				return fmt.Errorf("no member %q", name)
			}
			if err := m(got, vars); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		return nil
	}
}

// Array matches an array whose every element matches elem.
func Array(elem Matcher) Matcher {
	return func(v any, vars Vars) error {
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want an array, got %s", describe(v))
		}
		for i, e := range arr {
			if err := elem(e, vars); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	}
}

// String matches any string.
func String() Matcher {
	return is("a string", func(v any) bool { _, ok := v.(string); return ok })
}

// NonEmpty matches a string that is not empty.
func NonEmpty() Matcher {
	return is("a non-empty string", func(v any) bool { s, ok := v.(string); return ok && s != "" })
}

// Equal matches the string want, with {variables} expanded.
func Equal(want string) Matcher {
	return func(v any, vars Vars) error {
		if s, ok := v.(string); !ok || s != vars.expand(want) {
			return fmt.Errorf("want %q, got %s", vars.expand(want), describe(v))
		}
		return nil
	}
}

// UUID matches a UUID in canonical lower case, as API.md's ids are.
func UUID() Matcher {
	return is("a lower-case UUID", func(v any) bool {
		s, _ := v.(string)
		u, err := uuid.Parse(s)
		return err == nil && u.String() == s
	})
}

// Time matches an RFC 3339 timestamp in UTC ("Z").
func Time() Matcher {
	return is("an RFC 3339 UTC timestamp", func(v any) bool {
		s, _ := v.(string)
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil && strings.HasSuffix(s, "Z")
	})
}

// Int matches a JSON number that is an integer.
func Int() Matcher {
	return is("an integer", func(v any) bool { f, ok := v.(float64); return ok && f == math.Trunc(f) })
}

// IntValue matches the integer n.
func IntValue(n int64) Matcher {
	return is(strconv.FormatInt(n, 10), func(v any) bool { f, ok := v.(float64); return ok && f == float64(n) })
}

// Bool matches true or false.
func Bool() Matcher {
	return is("a boolean", func(v any) bool { _, ok := v.(bool); return ok })
}

// Nullable matches null or what m matches.
func Nullable(m Matcher) Matcher {
	return func(v any, vars Vars) error {
		if v == nil {
			return nil
		}
		return m(v, vars)
	}
}

// Null matches null.
func Null() Matcher {
	return is("null", func(v any) bool { return v == nil })
}

// is is a Matcher that needs no variables: ok says whether v matches,
// want what it should have been.
func is(want string, ok func(v any) bool) Matcher {
	return func(v any, _ Vars) error {
		if !ok(v) {
			return fmt.Errorf("want %s, got %s", want, describe(v))
		}
		return nil
	}
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprint(v)
}

// OneOf matches a string among want (an enum's values).
func OneOf(want ...string) Matcher {
	return func(v any, _ Vars) error {
		if s, ok := v.(string); !ok || !slices.Contains(want, s) {
			return fmt.Errorf("want one of %v, got %s", want, describe(v))
		}
		return nil
	}
}

// Pattern matches a string matching the regular expression expr.
func Pattern(expr string) Matcher {
	re := regexp.MustCompile(expr)
	return func(v any, _ Vars) error {
		if s, ok := v.(string); !ok || !re.MatchString(s) {
			return fmt.Errorf("want a string matching %s, got %s", expr, describe(v))
		}
		return nil
	}
}
