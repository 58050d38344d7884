package rest

// Members says which top-level members a request body carried and which
// of them were null. Route hooks use it for what a pb message cannot say,
// such as "address": null (remove it) versus no address member (keep it).
type Members struct {
	list []member
}

type member struct {
	name string
	null bool
}

// Has reports whether the body had the member, null or not.
func (m Members) Has(name string) bool {
	for _, x := range m.list {
		if x.name == name {
			return true
		}
	}
	return false
}

// Null reports whether the body had the member with the value null.
func (m Members) Null(name string) bool {
	for _, x := range m.list {
		if x.name == name {
			return x.null
		}
	}
	return false
}
