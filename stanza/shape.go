package stanza

import "strconv"

// CheckShape applies the rules for each kind of stanza (seed 10.4, RFC 6120
// §8.2.3; RFC 6121 §4.7) that every stream checks before routing: IQ type,
// id and child count, presence type and priority, error stanzas carrying
// <error/>. It returns the error to answer with.
func CheckShape(el *Element) *Error {
	typ := el.Attr("type")
	switch el.Name.Local {
	case "iq":
		switch typ {
		case "get", "set":
			if n := el.NumElements(); n != 1 {
				return NewError(BadRequest, "an IQ get or set must contain exactly one child element, not "+strconv.Itoa(n))
			}
		case "result":
			if el.NumElements() > 1 {
				return NewError(BadRequest, "an IQ result must contain at most one child element")
			}
		case "error":
			if el.Child("", "error") == nil {
				return NewError(BadRequest, "an IQ error must contain <error/>")
			}
		case "":
			return NewError(BadRequest, "an IQ needs a 'type'")
		default:
			return NewError(BadRequest, "unknown IQ type")
		}
		if !el.HasAttr("id") {
			return NewError(BadRequest, "an IQ needs an 'id'")
		}
	case "presence":
		switch typ {
		case "", "unavailable", "subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe":
		case "error":
			if el.Child("", "error") == nil {
				return NewError(BadRequest, "an error stanza must contain <error/>")
			}
		default:
			return NewError(BadRequest, "unknown presence type")
		}
		if p := el.Child("", "priority"); p != nil {
			if n, err := strconv.Atoi(p.Text()); err != nil || n < -128 || n > 127 {
				return NewError(BadRequest, "priority must be an integer from -128 to 127")
			}
		}
	case "message":
		if typ == "error" && el.Child("", "error") == nil {
			return NewError(BadRequest, "an error stanza must contain <error/>")
		}
	}
	return nil
}
