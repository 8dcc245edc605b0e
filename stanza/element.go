package stanza

import (
	"iter"
	"strings"
)

// Name is a namespace-qualified XML name.
//
// For elements, an empty Space means the content namespace of the stream the
// element travels on ('jabber:client' or 'jabber:server'). The decoder maps
// the stream's default namespace to "" and the encoder writes "" as whatever
// the destination stream's content namespace is, so a stanza read from a
// client stream can be written to a server stream without rewriting.
//
// For attributes, an empty Space means an unqualified attribute (to, from,
// id, type...); xml:lang has Space NSXML.
type Name struct {
	Space string
	Local string
}

// Attr is one attribute of an element. Namespace declarations (xmlns and
// xmlns:prefix) are never stored as attributes: the decoder resolves them into
// the Space of names, and the encoder generates them.
type Attr struct {
	Name  Name
	Value string
}

// Node is one child of an element: exactly one of Elem and Text is set.
// Text is unescaped character data.
type Node struct {
	Elem *Element
	Text string
}

// Element is an XML element: the unit XMPP streams carry (a stanza, a stream
// feature, a SASL or TLS negotiation element) and everything nested in one.
//
// Elements are plain values with no back pointers. An element that has been
// handed to the router belongs to the router: copy it (Copy) before changing
// it if it may be delivered to more than one place.
type Element struct {
	Name     Name
	Attrs    []Attr
	Children []Node
}

// New returns an element with the given namespace and local name. Use "" as
// the space for stanzas and their content-namespace children (body, error...).
func New(space, local string) *Element {
	return &Element{Name: Name{Space: space, Local: local}}
}

// Attr returns the value of the unqualified attribute local, or "".
func (e *Element) Attr(local string) string {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == "" {
			return e.Attrs[i].Value
		}
	}
	return ""
}

// AttrNS returns the value of the attribute {space}local, or "".
func (e *Element) AttrNS(space, local string) string {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == space {
			return e.Attrs[i].Value
		}
	}
	return ""
}

// HasAttr reports whether the unqualified attribute local is present, even if
// its value is empty.
func (e *Element) HasAttr(local string) bool {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == "" {
			return true
		}
	}
	return false
}

// SetAttr sets the unqualified attribute local, replacing an existing value,
// and returns e so calls can be chained.
func (e *Element) SetAttr(local, value string) *Element {
	return e.SetAttrNS("", local, value)
}

// SetAttrNS sets the attribute {space}local and returns e.
func (e *Element) SetAttrNS(space, local, value string) *Element {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == space {
			e.Attrs[i].Value = value
			return e
		}
	}
	// Never append into capacity we might share with another element.
	e.Attrs = append(e.Attrs[:len(e.Attrs):len(e.Attrs)], Attr{Name: Name{Space: space, Local: local}, Value: value})
	return e
}

// RemoveAttr removes the unqualified attribute local if present.
func (e *Element) RemoveAttr(local string) {
	for i := range e.Attrs {
		if e.Attrs[i].Name.Local == local && e.Attrs[i].Name.Space == "" {
			attrs := make([]Attr, 0, len(e.Attrs)-1)
			attrs = append(attrs, e.Attrs[:i]...)
			e.Attrs = append(attrs, e.Attrs[i+1:]...)
			return
		}
	}
}

// Lang returns the element's own xml:lang attribute, or "".
func (e *Element) Lang() string { return e.AttrNS(NSXML, "lang") }

// Append adds child elements at the end and returns e.
func (e *Element) Append(children ...*Element) *Element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children[:len(e.Children):len(e.Children)], Node{Elem: c})
		}
	}
	return e
}

// AppendText adds character data at the end and returns e. Empty text is
// ignored.
func (e *Element) AppendText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children[:len(e.Children):len(e.Children)], Node{Text: s})
	}
	return e
}

// Elements iterates over the child elements, skipping character data.
func (e *Element) Elements() iter.Seq[*Element] {
	return func(yield func(*Element) bool) {
		for _, n := range e.Children {
			if n.Elem != nil && !yield(n.Elem) {
				return
			}
		}
	}
}

// NumElements returns the number of child elements.
func (e *Element) NumElements() int {
	n := 0
	for _, c := range e.Children {
		if c.Elem != nil {
			n++
		}
	}
	return n
}

// FirstElement returns the first child element, or nil.
func (e *Element) FirstElement() *Element {
	for _, n := range e.Children {
		if n.Elem != nil {
			return n.Elem
		}
	}
	return nil
}

// Child returns the first child element named {space}local, or nil.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Children {
		if n.Elem != nil && n.Elem.Name.Local == local && n.Elem.Name.Space == space {
			return n.Elem
		}
	}
	return nil
}

// ChildText returns the character data of the first child named
// {space}local, or "" if there is none.
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// Text returns the concatenated character data directly inside e (not that of
// its descendants).
func (e *Element) Text() string {
	var only string
	n := 0
	for _, c := range e.Children {
		if c.Elem == nil {
			only = c.Text
			n++
		}
	}
	if n <= 1 {
		return only
	}
	var b strings.Builder
	for _, c := range e.Children {
		if c.Elem == nil {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// Copy returns a deep copy of e that shares no slices with it.
func (e *Element) Copy() *Element {
	if e == nil {
		return nil
	}
	c := &Element{Name: e.Name}
	if len(e.Attrs) > 0 {
		c.Attrs = append([]Attr(nil), e.Attrs...)
	}
	if len(e.Children) > 0 {
		c.Children = make([]Node, len(e.Children))
		for i, n := range e.Children {
			if n.Elem != nil {
				c.Children[i] = Node{Elem: n.Elem.Copy()}
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}

// ShallowCopy returns a copy of e with its own attribute slice and child
// slice but sharing the child elements themselves. It is the cheap way to
// send one stanza to several recipients with different 'to' attributes.
func (e *Element) ShallowCopy() *Element {
	c := &Element{Name: e.Name}
	if len(e.Attrs) > 0 {
		c.Attrs = append([]Attr(nil), e.Attrs...)
	}
	if len(e.Children) > 0 {
		c.Children = append([]Node(nil), e.Children...)
	}
	return c
}
